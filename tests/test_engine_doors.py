"""judgerl called the way verl 0.9.1 and OpenRLHF 0.11.2 call a reward, replayed from their source.

Neither engine installs beside judgerl: verl 0.9.1 pins ``transformers<5.11`` and needs Ray (judgerl's training
extra uses transformers 5.x); OpenRLHF 0.11.2 needs ``flash-attn==2.8.3`` and ``deepspeed`` (CUDA builds) and pins
``transformers==5.15.0``. So these tests replay, step for step, the code of the released wheels (read from
``verl-0.9.1-py3-none-any.whl`` and ``openrlhf-0.11.2-cp311-cp311-manylinux1_x86_64.whl``; file and function named
at each step): how the engine loads judgerl, the exact arguments and batch shape it passes, and what it does with
the answer. Older releases' shapes are covered by tests/test_verl_door.py and tests/test_serve_http.py.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from functools import partial
from itertools import cycle
from pathlib import Path
from typing import Any

import httpx
import pytest

import judgerl.serve.verl as verl_door
from support.serve import RUBRIC_PATH, running

np = pytest.importorskip("numpy")
LOCAL = {"rubric": str(RUBRIC_PATH), "backend": "support.serve:ServeBackend", "rationales": "none"}
# the scripted judge of support/serve.py: 'good' 0.9, 'bad' 0.2, 'ERROR' unscored (neutral 0.5), else 0.6
SOLUTIONS = ["good: 72 #### 72", "bad: 70 #### 70", "ERROR", "plain"]
EXPECTED = [0.9, 0.2, 0.5, 0.6]
KEYS = {"score", "unscored", "judge_latency_s", "safe", "correct", "polite"}


# ---- verl 0.9.1 ---------------------------------------------------------------------------------------------


def verl_load_custom_reward_fn(path: str, name: str, reward_kwargs: dict[str, Any]) -> Callable[..., Any]:
    """verl/trainer/ppo/reward.py get_custom_reward_fn -> verl/utils/import_utils.py load_extern_object /
    load_module: the file is imported under ``custom_module_<hash of its path>`` and not added to sys.modules;
    a sync function is wrapped by ``partial(_call_with_kwargs, raw_fn, reward_kwargs)``, whose merge is
    ``{**kwargs, **extra_kwargs}`` (the config's reward_kwargs win)."""
    spec = importlib.util.spec_from_file_location(f"custom_module_{hash(os.path.abspath(path))}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    raw_fn = getattr(module, name)
    assert not asyncio.iscoroutinefunction(raw_fn)  # so verl runs it in an executor thread

    def _call_with_kwargs(raw_fn: Callable[..., Any], extra_kwargs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        merged_kwargs = {**kwargs, **extra_kwargs}
        return raw_fn(*args, **merged_kwargs)

    return partial(_call_with_kwargs, raw_fn, reward_kwargs)


def verl_rows() -> list[dict[str, Any]]:
    """Each sample's ``non_tensor_batch`` as verl's GSM8K preprocessing writes it (data_source, reward_model,
    extra_info with the question)."""
    return [
        {
            "data_source": "openai/gsm8k",
            "reward_model": {"style": "rule", "ground_truth": "72"},
            "extra_info": {"split": "train", "index": k, "question": f"Natalia sold clips to {48 + k} friends..."},
        }
        for k in range(len(SOLUTIONS))
    ]


async def verl_reward_loop(compute_score: Callable[..., Any]) -> list[dict[str, Any]]:
    """verl/experimental/reward_loop/reward_loop.py RewardLoopWorker.compute_score_batch: one task per sample,
    gathered; each is reward_manager/naive.py NaiveRewardManager.run_single with a custom reward function: the
    sync function runs in the loop's default executor (threads, concurrently), ``extra_info`` gains
    ``num_turns`` and ``rollout_reward_scores``; a dict result gives ``score`` and every key to
    reward_extra_info."""
    loop = asyncio.get_running_loop()

    async def run_single(row: dict[str, Any], solution_str: str) -> dict[str, Any]:
        data_source = row["data_source"]
        ground_truth = row["reward_model"]["ground_truth"]
        extra_info = row.get("extra_info", {})
        extra_info["num_turns"] = row.get("__num_turns__")
        extra_info["rollout_reward_scores"] = row.get("reward_scores", {})
        result = await loop.run_in_executor(
            None,
            lambda: compute_score(
                data_source=data_source, solution_str=solution_str, ground_truth=ground_truth, extra_info=extra_info
            ),
        )
        reward_extra_info = {}
        if isinstance(result, dict):
            score = result["score"]
            for key, value in result.items():
                reward_extra_info[key] = value
        else:
            score = result
            reward_extra_info["acc"] = score
        return {"reward_score": score, "reward_extra_info": reward_extra_info}

    tasks = [asyncio.create_task(run_single(row, text)) for row, text in zip(verl_rows(), SOLUTIONS, strict=True)]
    return list(await asyncio.gather(*tasks))


def test_verl_091_reward_loop_runs_compute_score_per_sample_in_threads() -> None:
    compute_score = verl_load_custom_reward_fn(verl_door.__file__, "compute_score", LOCAL)
    outputs = asyncio.run(verl_reward_loop(compute_score))
    assert [o["reward_score"] for o in outputs] == pytest.approx(EXPECTED)
    assert all(set(o["reward_extra_info"]) == KEYS for o in outputs)  # the same keys for every sample
    assert [o["reward_extra_info"]["unscored"] for o in outputs] == [0.0, 0.0, 1.0, 0.0]


def verl_batch_manager(compute_score: Callable[..., Any], reward_kwargs: dict[str, Any]) -> dict[str, Any]:
    """verl/workers/reward_manager/batch.py BatchRewardManager.verify and __call__ (the legacy reward path): the
    non-tensor columns are numpy object arrays, every extra_info gains ``rollout_reward_scores`` in place,
    ``compute_score(data_sources=, solution_strs=, ground_truths=, extra_infos=, **reward_kwargs)``; then each
    dict's keys are appended to reward_extra_info (verl turns those lists into arrays of the batch's length)."""
    rows = verl_rows()
    data_sources = np.array([row["data_source"] for row in rows], dtype=object)
    ground_truths = [row["reward_model"].get("ground_truth", None) for row in rows]
    rollout_reward_scores = [{} for _ in range(len(rows))]
    extras = np.array([row["extra_info"] for row in rows], dtype=object)
    for i in range(len(rows)):
        extras[i]["rollout_reward_scores"] = rollout_reward_scores[i]
    scores = compute_score(
        data_sources=data_sources,
        solution_strs=list(SOLUTIONS),
        ground_truths=ground_truths,
        extra_infos=extras,
        **reward_kwargs,
    )
    reward_extra_info: dict[str, list[Any]] = defaultdict(list)
    rewards = []
    for i in range(len(rows)):
        score = scores[i]
        if isinstance(score, dict):
            reward = score["score"]
            for key, value in score.items():
                reward_extra_info[key].append(value)
        else:
            reward = score
        rewards.append(reward)
    return {"rewards": rewards, "reward_extra_info": dict(reward_extra_info)}


def test_verl_091_batch_manager_through_judgerl_serve() -> None:
    with running(token="verl") as url:
        # the legacy manager passes reward_kwargs itself; get_custom_reward_fn adds none here
        compute_score = verl_load_custom_reward_fn(verl_door.__file__, "compute_score_batch", {})
        result = verl_batch_manager(compute_score, {"server_url": url, "token": "verl"})
    assert result["rewards"] == pytest.approx(EXPECTED)
    assert set(result["reward_extra_info"]) == KEYS
    assert all(len(values) == len(SOLUTIONS) for values in result["reward_extra_info"].values())


# ---- OpenRLHF 0.11.2 ----------------------------------------------------------------------------------------

TEMPLATE = "<|im_start|>user\n{q}<|im_end|>\n<|im_start|>assistant\n"
QUESTIONS = ["What is 2+2?", "Capital of France?", "Say hi.", "Explain."]
ANSWERS = ["good: 4<|im_end|>", "bad: Lyon<|im_end|><|endoftext|>", "hello<|im_end|>", "ERROR<|im_end|>"]
LABELS = ["4", "Paris", None, ""]


class SingleTurnRewards:
    """openrlhf/utils/agent.py SingleTurnAgentExecutor: the endpoints of ``--reward.remote_url`` cycled, one
    rollout (one query) per ``execute``; ``_fetch_rewards_via_http`` shards a call's queries over the servers,
    one POST of ``{"query", "prompts", "labels"}`` each, 180 s total timeout, 5 tries. (OpenRLHF posts with
    aiohttp, which judgerl does not install; httpx sends the same JSON body to the same URL.)"""

    def __init__(self, remote_rm_url: list[str]) -> None:
        self.reward_endpoints = remote_rm_url
        self._reward_endpoint_cycle = cycle(self.reward_endpoints)

    async def _fetch_rewards_via_http(
        self, queries_list: list[str], prompts_list: list[str], labels_list: list[Any]
    ) -> list[dict[str, Any]]:
        num_servers = len(self.reward_endpoints)
        batch_size = (len(queries_list) + num_servers - 1) // num_servers
        tasks = []
        for i in range(num_servers):
            start_idx = i * batch_size
            if start_idx >= len(queries_list):
                break
            rm = next(self._reward_endpoint_cycle)
            end_idx = min((i + 1) * batch_size, len(queries_list))
            payload = {
                "query": queries_list[start_idx:end_idx],
                "prompts": prompts_list[start_idx:end_idx],
                "labels": labels_list[start_idx:end_idx],
            }

            async def _post_request(url: str, data: dict[str, Any], try_max_times: int = 5) -> Any:
                for _ in range(try_max_times):
                    try:
                        async with httpx.AsyncClient(timeout=180) as session:
                            response = await session.post(url, json=data)
                            response.raise_for_status()
                            return response.json()
                    except httpx.HTTPError:
                        pass
                    await asyncio.sleep(1)
                raise RuntimeError(f"Request error for {try_max_times} times, returning None.")

            tasks.append(asyncio.create_task(_post_request(rm, payload)))
        return list(await asyncio.gather(*tasks))

    async def execute(self, prompt: str, label: Any, response: str) -> dict[str, Any]:
        """The reward part of ``execute``: query = the decoded prompt + action tokens (special tokens kept)."""
        output: dict[str, Any] = {"prompt": prompt, "label": label, "reward": None, "scores": None, "extra_logs": {}}
        query = prompt + response
        rewards_info_list = await self._fetch_rewards_via_http([query], [prompt], [label])
        rewards_info = rewards_info_list[0] if rewards_info_list else None
        if rewards_info:
            score_value = rewards_info.get("scores")
            if score_value is None:
                score_value = rewards_info.get("rewards")
            output.update(
                reward=rewards_info.get("rewards"),
                scores=score_value,
                extra_logs=rewards_info.get("extra_logs") or {},
            )
        return output


def openrlhf_experience_info(response: dict[str, Any]) -> dict[str, Any]:
    """openrlhf/trainer/ppo_utils/samples_generator.py _process_response_into_experience: the reward, score and
    extra_logs of one rollout as the tensors of its Experience.info."""
    torch = pytest.importorskip("torch")
    info: dict[str, Any] = {}
    reward_val = response.get("reward")
    score_val = response.get("scores")
    if reward_val is not None:
        info["reward"] = torch.tensor([reward_val])
    if score_val is not None:
        info["score"] = torch.tensor([score_val])
    for key, value in response.get("extra_logs", {}).items():
        if isinstance(value, torch.Tensor):
            value = value.flatten()[0].item()
        info[key] = torch.tensor([value])
    return info


@pytest.fixture(scope="module")
def two_servers() -> Iterator[list[str]]:
    """Two `judgerl serve` replicas; OpenRLHF's client sends no Authorization header, so no token."""
    with ExitStack() as stack:
        yield [stack.enter_context(running()) + "/get_reward" for _ in range(2)]


def test_openrlhf_0112_single_turn_rollouts_over_two_servers(two_servers: list[str]) -> None:
    torch = pytest.importorskip("torch")
    executor = SingleTurnRewards(two_servers)

    async def rollouts() -> list[dict[str, Any]]:
        prompts = [TEMPLATE.format(q=q) for q in QUESTIONS]
        return list(
            await asyncio.gather(
                *(executor.execute(p, label, a) for p, label, a in zip(prompts, LABELS, ANSWERS, strict=True))
            )
        )

    infos = [openrlhf_experience_info(output) for output in asyncio.run(rollouts())]
    # all_rewards = torch.cat([exp.info["reward"] ...]) in ppo_trainer.py: one reward per rollout
    rewards = torch.cat([info["reward"] for info in infos]).flatten()
    assert rewards.tolist() == pytest.approx([0.9, 0.2, 0.6, 0.5])
    assert all(set(info) == {"reward", "score", "unscored", "judge_latency_s", "safe", "correct", "polite"}
               for info in infos)  # fmt: skip
    assert [float(info["unscored"].flatten()[0]) for info in infos] == [0.0, 0.0, 0.0, 1.0]
    # one number per rollout in every column, as OpenRLHF's metrics concatenate them; the unscored rollout's
    # criteria carry the failure policy's value
    assert all(value.numel() == 1 for info in infos for value in info.values())
    assert float(infos[3]["correct"].flatten()[0]) == pytest.approx(0.5)


def test_openrlhf_0112_sharding_of_a_batch_keeps_the_order(two_servers: list[str]) -> None:
    executor = SingleTurnRewards(two_servers)
    prompts = [TEMPLATE.format(q=q) for q in QUESTIONS]
    queries = [p + a for p, a in zip(prompts, ANSWERS, strict=True)]
    shards = asyncio.run(executor._fetch_rewards_via_http(queries, prompts, LABELS))
    assert [len(shard["rewards"]) for shard in shards] == [2, 2]  # one shard per server
    assert [r for shard in shards for r in shard["rewards"]] == pytest.approx([0.9, 0.2, 0.6, 0.5])


def test_openrlhf_0112_reward_function_file_from_the_docs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``judgerl_reward.py`` of docs/serving.md, loaded and called as ``SingleTurnAgentExecutor`` does with a
    ``.py`` remote_url: ``spec_from_file_location("reward_func", path)``, ``asyncio.to_thread(reward_func,
    [query], [prompt], [label])``, the result used as that rollout's rewards_info."""
    docs = (Path(__file__).parents[1] / "docs" / "serving.md").read_text()
    source = docs.split("# judgerl_reward.py\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "judgerl_reward.py"
    path.write_text(source)
    with running(token="secret") as url:
        monkeypatch.setenv("JUDGERL_SERVER_URL", url)
        monkeypatch.setenv("JUDGERL_SERVER_TOKEN", "secret")
        spec = importlib.util.spec_from_file_location("reward_func", path)
        assert spec is not None and spec.loader is not None
        reward_module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(reward_module)
        prompt = TEMPLATE.format(q=QUESTIONS[0])

        async def fetch() -> list[Any]:
            return list(await asyncio.gather(asyncio.to_thread(reward_module.reward_func, [prompt + ANSWERS[0]],
                                                               [prompt], [LABELS[0]])))  # fmt: skip

        rewards_info = asyncio.run(fetch())[0]
    output = {"reward": rewards_info.get("rewards"), "scores": rewards_info.get("scores"),
              "extra_logs": rewards_info.get("extra_logs") or {}}  # fmt: skip
    info = openrlhf_experience_info(output)
    assert float(info["reward"].flatten()[0]) == pytest.approx(0.9)
    assert float(info["unscored"].flatten()[0]) == 0.0

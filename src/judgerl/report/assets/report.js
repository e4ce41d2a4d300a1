// Sample browser for the judgerl report. Data comes from the JSON block #browser-data; all text is inserted
// with textContent (never as HTML), because responses are untrusted model output.
(function () {
  "use strict";
  var node = document.getElementById("browser-data");
  if (!node) { return; }
  var data = JSON.parse(node.textContent);
  var PAGE = 25;
  var state = { criterion: "", cluster: "", outcome: "", stepMin: null, stepMax: null, text: "", sort: "step", page: 0 };
  var byId = function (id) { return document.getElementById(id); };

  function el(tag, className, text) {
    var e = document.createElement(tag);
    if (className) { e.className = className; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }
  function fmt(value, digits) {
    return value === null || value === undefined ? "–" : Number(value).toFixed(digits === undefined ? 3 : digits);
  }
  function verdictOf(item, name) {
    for (var i = 0; i < item.c.length; i++) { if (item.c[i][0] === name) { return item.c[i]; } }
    return null;
  }
  function searchable(item) {
    if (item._text === undefined) {
      var parts = [item.id, data.prompts[item.p] || "", item.x || "", item.a || "", item.b || "", item.rat || ""];
      (item.c || []).forEach(function (v) { parts.push(v[3] || "", v[4] || ""); });
      item._text = parts.join("\n").toLowerCase();
    }
    return item._text;
  }

  function matches(item) {
    if (state.stepMin !== null && item.s < state.stepMin) { return false; }
    if (state.stepMax !== null && item.s > state.stepMax) { return false; }
    if (state.text && searchable(item).indexOf(state.text) < 0) { return false; }
    if (data.kind === "pair") {
      if (state.outcome === "inconsistent") { return item.k === false; }
      if (state.outcome === "unscored") { return item.u !== null; }
      if (state.outcome) { return item.w === state.outcome; }
      return true;
    }
    if (state.outcome === "unscored" && item.u === null) { return false; }
    if (state.outcome === "failed-any" && !item.c.some(function (v) { return v[1] === 0; })) { return false; }
    if (state.outcome === "passed-all" && !(item.c.length && item.c.every(function (v) { return v[1] === 1; }))) {
      return false;
    }
    if (state.criterion) {
      var v = verdictOf(item, state.criterion);
      if (!v || v[1] !== 0) { return false; }
      if (state.cluster !== "" && String(v[5]) !== state.cluster) { return false; }
    }
    return true;
  }

  function sorted(items) {
    var key;
    if (state.sort === "reward-asc" || state.sort === "reward-desc") {
      var sign = state.sort === "reward-asc" ? 1 : -1;
      key = function (a, b) {
        var ra = a.rw === null ? -Infinity : a.rw, rb = b.rw === null ? -Infinity : b.rw;
        return sign * (ra - rb) || a.s - b.s;
      };
    } else if (state.sort === "ppass" && state.criterion) {
      key = function (a, b) {
        var va = verdictOf(a, state.criterion), vb = verdictOf(b, state.criterion);
        return ((va && va[2] !== null ? va[2] : 2) - (vb && vb[2] !== null ? vb[2] : 2)) || a.s - b.s;
      };
    } else {
      key = function (a, b) { return a.s - b.s || a.i - b.i; };
    }
    return items.slice().sort(key);
  }

  function block(parent, title, text) {
    parent.appendChild(el("h4", null, title));
    parent.appendChild(el("pre", null, text));
  }

  function rubricCard(item) {
    var card = el("details", "sample");
    card.dataset.step = item.s;
    card.dataset.id = item.id;
    var summary = el("summary");
    summary.appendChild(el("span", null, "step " + item.s + " · " + item.id + " · reward " + fmt(item.rw) + " "));
    item.c.forEach(function (v) {
      var kind = v[1] === 1 ? "pass" : v[1] === 0 ? "fail" : "unscored";
      var chip = el("span", "chip " + kind, (kind === "pass" ? "✓ " : kind === "fail" ? "✗ " : "? ") + v[0]);
      chip.dataset.criterion = v[0];
      chip.title = v[3] || v[4] || kind;
      summary.appendChild(chip);
    });
    if (item.u !== null) { summary.appendChild(el("span", "chip unscored", "unscored")); }
    card.appendChild(summary);
    card.addEventListener("toggle", function () {
      if (!card.open || card.dataset.filled) { return; }
      card.dataset.filled = "1";
      block(card, "Prompt", data.prompts[item.p] || "");
      block(card, "Response (" + item.len + " " + data.length_unit + ")", item.x);
      if (item.ref !== null) { block(card, "Reference", item.ref); }
      if (item.u !== null) { block(card, "Unscored because", item.u); }
      var table = el("table");
      var head = el("tr");
      ["criterion", "verdict", "P(pass)", "rationale / reason"].forEach(function (h) { head.appendChild(el("th", null, h)); });
      table.appendChild(head);
      item.c.forEach(function (v) {
        var row = el("tr");
        row.appendChild(el("td", null, v[0]));
        row.appendChild(el("td", null, v[1] === 1 ? "pass" : v[1] === 0 ? "FAIL" : "unscored"));
        row.appendChild(el("td", "num", fmt(v[2])));
        row.appendChild(el("td", null, v[3] || v[4] || ""));
        table.appendChild(row);
      });
      card.appendChild(table);
    });
    return card;
  }

  function pairCard(item) {
    var card = el("details", "sample");
    card.dataset.step = item.s;
    card.dataset.id = item.id;
    var summary = el("summary");
    var outcome = item.u !== null ? "unscored" : "winner " + item.w + (item.k ? "" : " (orders disagree)");
    summary.appendChild(el("span", null, "step " + item.s + " · " + item.id + " · " + outcome +
      " · P(A better) " + fmt(item.pa) + " [A shown first " + fmt(item.p1, 2) + ", A shown second " + fmt(item.p2, 2) +
      "]"));
    card.appendChild(summary);
    card.addEventListener("toggle", function () {
      if (!card.open || card.dataset.filled) { return; }
      card.dataset.filled = "1";
      block(card, "Prompt", data.prompts[item.p] || "");
      block(card, "Response A", item.a);
      block(card, "Response B", item.b);
      if (item.rat) { block(card, "Rationale", item.rat); }
      if (item.u !== null) { block(card, "Unscored because", item.u); }
    });
    return card;
  }

  function render() {
    var found = sorted(data.items.filter(matches));
    var pages = Math.max(1, Math.ceil(found.length / PAGE));
    state.page = Math.min(state.page, pages - 1);
    var count = byId("browser-count");
    count.dataset.count = found.length;
    count.textContent = found.length + " of " + data.items.length + " shown samples match" +
      (data.total > data.items.length ? " (the report holds " + data.items.length + " of " + data.total +
        " samples; `judgerl inspect` queries them all)" : "");
    var list = byId("browser-list");
    while (list.firstChild) { list.removeChild(list.firstChild); }
    found.slice(state.page * PAGE, (state.page + 1) * PAGE).forEach(function (item) {
      list.appendChild(data.kind === "pair" ? pairCard(item) : rubricCard(item));
    });
    byId("browser-page").textContent = "page " + (state.page + 1) + " of " + pages;
    byId("browser-prev").disabled = state.page === 0;
    byId("browser-next").disabled = state.page >= pages - 1;
  }

  function fillClusters() {
    var select = byId("f-cluster");
    if (!select) { return; }
    while (select.options.length > 1) { select.remove(1); }
    var labels = (data.clusters || {})[state.criterion] || [];
    labels.forEach(function (label, index) {
      var option = el("option", null, label);
      option.value = String(index);
      select.appendChild(option);
    });
    select.disabled = labels.length === 0;
  }

  function numberOrNull(value) { return value === "" || isNaN(Number(value)) ? null : Number(value); }
  function on(id, event, handler) {
    var e = byId(id);
    if (e) { e.addEventListener(event, function () { handler(e.value); state.page = 0; render(); }); }
  }
  on("f-criterion", "change", function (v) { state.criterion = v; state.cluster = ""; fillClusters(); });
  on("f-cluster", "change", function (v) { state.cluster = v; });
  on("f-outcome", "change", function (v) { state.outcome = v; });
  on("f-step-min", "input", function (v) { state.stepMin = numberOrNull(v); });
  on("f-step-max", "input", function (v) { state.stepMax = numberOrNull(v); });
  on("f-text", "input", function (v) { state.text = v.trim().toLowerCase(); });
  on("f-sort", "change", function (v) { state.sort = v; });
  byId("browser-prev").addEventListener("click", function () { state.page -= 1; render(); });
  byId("browser-next").addEventListener("click", function () { state.page += 1; render(); });

  // "Browse these samples" buttons in the failure-mode tables filter the browser to one group.
  Array.prototype.forEach.call(document.querySelectorAll("button[data-browse-criterion]"), function (button) {
    button.addEventListener("click", function () {
      state.criterion = button.dataset.browseCriterion;
      state.cluster = button.dataset.browseCluster;
      state.page = 0;
      byId("f-criterion").value = state.criterion;
      fillClusters();
      byId("f-cluster").value = state.cluster;
      render();
      byId("browser").scrollIntoView();
    });
  });
  fillClusters();
  render();
})();

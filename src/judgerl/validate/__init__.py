"""Judge validation: agreement with labelled data, bias, calibration, and prompt-injection resistance.

Entry points: ``judgerl validate`` (cli/validate_cmd.py) and the functions in judgerl.validate.run."""

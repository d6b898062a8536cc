"""Flags whose behaviour checks live with their feature's tests (see tests/test_cli.py)."""

COVERED: tuple[str, ...] = (
    "--scenario",  # tests/test_scenario_cli.py::test_scenario_flag_reaches_the_app
    "--metrics-port",  # tests/test_metrics_port.py::test_the_flag_and_the_environment_reach_the_settings
    "--replay-strict",  # tests/test_record.py::test_replay_strict_flag
    "--simulator",  # tests/test_simulators.py::test_simulator_flag_chooses_the_chain
    # tests/test_cli_llm.py
    "--mode",
    "--fixed-text",
    "--output-length",
    "--ttft",
    "--itl",
    "--tokens-per-chunk",
    "--tokenizer-json",
    # tests/test_llamacpp.py::test_the_flags_reach_the_app (and ..._without_the_extra_too)
    "--model-backend",
    "--model-path",
    "--backend-model",
)

"""The `judgerl` command line."""

"""Test and drill helpers shipped with judgerl (a loopback judge server with fault injection)."""

"""Serving doors for the judge: the Amazon Nova RFT Lambda, an HTTP reward server (Nova, OpenRLHF, verl) and
verl's ``compute_score``. Importing this package does not import fastapi; only :mod:`judgerl.serve.server` does."""

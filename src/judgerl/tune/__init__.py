"""`judgerl tune`: ways of asking a judge, chosen by cross-validation on labelled data (judgerl.tune.search)."""

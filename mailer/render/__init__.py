"""Documents and mail going out: the progress form, the consolidated notice and its data, the ledger, mail and robot text and their contexts."""

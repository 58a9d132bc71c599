"""The service: the monthly cycle, intake and matching of replies, submissions, decisions, the queue of outgoing mail, the daemon, checks, the clerk's actions and the demo."""

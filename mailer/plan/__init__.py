"""The plan coming in: the task notice (.docx) or task list (.xlsx), the office directory and the milestones, read and imported into the registry."""

"""What every layer may use: settings, errors, text, periods, tokens, files, logs, template resources, working days and holidays. Imports nothing of duban's but itself."""

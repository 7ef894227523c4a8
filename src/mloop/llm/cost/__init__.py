"""What calls cost: the price table, budgets and rate limits."""

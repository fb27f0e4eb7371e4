"""Point-in-time joins and the leakage audit. Shares nothing with the compiler."""

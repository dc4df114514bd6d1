//! The HTX portal API: typed client, errors by meaning, one limiter per token.

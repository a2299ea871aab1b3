"""Regular tasks: even_pairs, modular_arithmetic, parity_check, cycle_navigation."""

"""Deterministic context-free tasks: stack_manipulation, reverse_string,
modular_arithmetic_brackets, solve_equation."""

"""Benchmarks of the product; each one a module run with ``python -m bench.<name>``.

Speed is measured here, never in the tests: every benchmark reports medians over rounds and a
ratio to a ceiling measured in the same run.
"""

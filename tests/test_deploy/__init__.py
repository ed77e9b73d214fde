"""Tests of m5mm.deploy."""

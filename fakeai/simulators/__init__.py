"""Simulators compute timings and state from the request RNG and the clock; they never sleep."""

"""Orchestration: train, translate, evaluate, inspect, quickstart. Files in and files out."""

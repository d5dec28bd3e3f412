"""Small scenario files shared by the plugin and CLI tests."""

TINY = """\
name: tiny
description: one stage doubling random frames
seed: 1
frames: 5
pipeline:
  shared_memory:
    - {name: x, shape: [4], dtype: float32}
    - {name: y, shape: [4], dtype: float32}
  kernels:
    - {name: double, kind: cpu.scale, input: x, output: y, parameters: {factor: 2.0}}
inputs:
  x: {synthetic: {pattern: random}}
"""

FAULT = """\
name: fault
frames: 3
pipeline:
  shared_memory:
    - {name: x, shape: [4], dtype: float32}
    - {name: y, shape: [4], dtype: float32}
  kernels:
    - {name: boom, kind: cpu.raise_error, input: x, output: y,
       parameters: {message: sensor on fire}}
inputs:
  x: {synthetic: ramp}
"""

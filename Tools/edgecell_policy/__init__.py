"""EdgeCell policy tools: the JAX reference of the VLA policy (Models/README.md is the contract), model
folders with golden vectors, weight-only bf16/int8 variants, the ONNX export and benchmarks.

Modules: `config` (config.json), `tokenizer` (§2), `model` (JAX network, §3), `reference` (independent numpy
network, tests only), `quantize` (§4 variants), `tensorfile` (safetensors I/O), `golden` (§5), `folder` (model
folders), `onnx_export`, `ckernel` (ctypes binding of CPolicyKernel), `bench`.
"""

__version__ = "0.1.0"

"""World kinds. Each module holds the state layout, the step kernels and the perturbation
kernels of one world; none imports agents, Qt or pygame."""

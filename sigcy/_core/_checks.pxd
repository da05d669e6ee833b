# The argument checks of the compiled loops, shared by every cell's module and the trainer:
# they keep a direct call of a private loop from reading or writing out of bounds (bounds
# checking is off inside the loops).  C-level, without making Python objects of the arrays.

cdef inline int want_shape(str name, Py_ssize_t *shape, int ndim, Py_ssize_t d0,
                           Py_ssize_t d1, Py_ssize_t d2) except -1:
    """ValueError unless shape[:ndim] is (d0, d1, d2)[:ndim]."""
    cdef Py_ssize_t want[3]
    cdef int k
    want[0] = d0
    want[1] = d1
    want[2] = d2
    for k in range(ndim):
        if shape[k] != want[k]:
            raise ValueError(f"{name} has shape {tuple([shape[j] for j in range(ndim)])}, "
                             f"expected {tuple([want[j] for j in range(ndim)])}")
    return 0


cdef inline int check_blocks(Py_ssize_t row_block, Py_ssize_t grad_block) except -1:
    """Positive block sizes."""
    if row_block < 1 or grad_block < 1:
        raise ValueError(f"row_block {row_block} or grad_block {grad_block} out of range")
    return 0


cdef inline int check_run(int act, Py_ssize_t bptt_steps, int n_threads,
                          const Py_ssize_t[::1] lengths, Py_ssize_t n_samples,
                          Py_ssize_t n_timesteps) except -1:
    """The activation code, window, thread count, number of steps and lengths (one per
    sample, each in [1, n_timesteps]) the loops rely on."""
    cdef Py_ssize_t k
    if not 0 <= act <= 2 or bptt_steps < 1 or n_threads < 1 or n_timesteps < 1:
        raise ValueError(f"act {act}, bptt_steps {bptt_steps}, n_threads {n_threads} or "
                         f"n_timesteps {n_timesteps} out of range")
    if lengths is not None:
        want_shape("lengths", lengths.shape, 1, n_samples, 0, 0)
        for k in range(n_samples):
            if not 1 <= lengths[k] <= n_timesteps:
                raise ValueError(f"lengths[{k}] = {lengths[k]} is outside [1, {n_timesteps}]")
    return 0

// Top-k of each row of a row-major float matrix, for Triton's classification
// extension on GPU models. One block per row. Round r finds the element that
// ranks first among those ranking after the (r-1)-th pick, so no bitmap of
// picked elements is needed and the answer is exactly the CPU reference's
// (kernels/src/top_k.rs): higher values first, equal values in index order,
// NaN after every number.
//
// Launch: grid = rows, block = TOP_K_THREADS (a power of two),
// dynamic shared memory = TOP_K_THREADS * (sizeof(float) + sizeof(int)).

#define TOP_K_THREADS 256

// True when (va, ia) ranks before (vb, ib).
__device__ __forceinline__ bool ranks_before(float va, int ia, float vb, int ib) {
    const bool a_nan = va != va, b_nan = vb != vb;
    if (a_nan != b_nan) return b_nan;
    if (!a_nan && va != vb) return va > vb;
    return ia < ib;
}

extern "C" __global__ void top_k_rows_f32(const float* values, int cols, int k, int* indices, float* picked) {
    extern __shared__ unsigned char shared[];
    float* best_value = reinterpret_cast<float*>(shared);
    int* best_index = reinterpret_cast<int*>(best_value + blockDim.x);
    const float* row = values + (size_t)blockIdx.x * cols;
    float last_value = 0.0f;
    int last_index = -1;  // no pick yet: every element is eligible
    for (int round = 0; round < k; ++round) {
        float mine = 0.0f;
        int mine_index = -1;
        for (int i = threadIdx.x; i < cols; i += blockDim.x) {
            const float v = row[i];
            const bool eligible = last_index < 0 || ranks_before(last_value, last_index, v, i);
            if (eligible && (mine_index < 0 || ranks_before(v, i, mine, mine_index))) {
                mine = v;
                mine_index = i;
            }
        }
        best_value[threadIdx.x] = mine;
        best_index[threadIdx.x] = mine_index;
        __syncthreads();
        for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
            if (threadIdx.x < stride) {
                const float v = best_value[threadIdx.x + stride];
                const int i = best_index[threadIdx.x + stride];
                const int j = best_index[threadIdx.x];
                if (i >= 0 && (j < 0 || ranks_before(v, i, best_value[threadIdx.x], j))) {
                    best_value[threadIdx.x] = v;
                    best_index[threadIdx.x] = i;
                }
            }
            __syncthreads();
        }
        last_value = best_value[0];
        last_index = best_index[0];
        if (threadIdx.x == 0) {
            indices[(size_t)blockIdx.x * k + round] = last_index;
            picked[(size_t)blockIdx.x * k + round] = last_value;
        }
        __syncthreads();  // before the next round overwrites the scratch
    }
}

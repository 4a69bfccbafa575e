// Batch assembly and scatter on the device: copies byte segments from one
// buffer to another, segment i being lengths[i] bytes from
// src + src_offsets[i] to dst + dst_offsets[i]. Gathering requests' rows
// (uploaded with their pinned staging buffer in one copy) into a contiguous
// device batch is one launch; scattering a batch's output rows back into
// the staging layout is another. The CPU reference is kernels/src/segments.rs;
// the host checks every segment is in bounds and destinations do not overlap
// before launching.
//
// Launch: grid = min(segments, 65535) blocks (each strides over segments),
// block = COPY_THREADS threads striding over a segment's bytes.

#define COPY_THREADS 256

extern "C" __global__ void copy_segments(const unsigned char* src, unsigned char* dst,
                                         const unsigned long long* src_offsets,
                                         const unsigned long long* dst_offsets,
                                         const unsigned long long* lengths, unsigned int segments) {
    for (unsigned int s = blockIdx.x; s < segments; s += gridDim.x) {
        const unsigned char* from = src + src_offsets[s];
        unsigned char* to = dst + dst_offsets[s];
        const unsigned long long length = lengths[s];
        // 16-byte words when both ends are aligned alike: rows of float
        // tensors usually are, and a word moves 16 times the bytes per thread.
        const unsigned long long misalignment = ((unsigned long long)from ^ (unsigned long long)to) & 15ull;
        unsigned long long head = 0;
        if (misalignment == 0) {
            head = (16ull - ((unsigned long long)from & 15ull)) & 15ull;
            if (head > length) head = length;
            const unsigned long long words = (length - head) / 16ull;
            const uint4* from_words = reinterpret_cast<const uint4*>(from + head);
            uint4* to_words = reinterpret_cast<uint4*>(to + head);
            for (unsigned long long w = threadIdx.x; w < words; w += blockDim.x) {
                to_words[w] = from_words[w];
            }
            // Bytes before the first aligned word, and after the last.
            for (unsigned long long b = threadIdx.x; b < head; b += blockDim.x) to[b] = from[b];
            for (unsigned long long b = head + words * 16ull + threadIdx.x; b < length; b += blockDim.x) {
                to[b] = from[b];
            }
        } else {
            for (unsigned long long b = threadIdx.x; b < length; b += blockDim.x) to[b] = from[b];
        }
    }
}

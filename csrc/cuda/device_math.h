// float/double overloads of the math the kernels use, so that templated device code picks the right
// precision under nvcc (expf vs exp) and under the simulator alike.
#pragma once
#include <cmath>

#include "runtime.h"

namespace pydl::cuda {

__device__ __forceinline__ float dexp(float x) { return ::expf(x); }
__device__ __forceinline__ double dexp(double x) { return ::exp(x); }
__device__ __forceinline__ float dexpm1(float x) { return ::expm1f(x); }
__device__ __forceinline__ double dexpm1(double x) { return ::expm1(x); }
__device__ __forceinline__ float dlog(float x) { return ::logf(x); }
__device__ __forceinline__ double dlog(double x) { return ::log(x); }
__device__ __forceinline__ float dlog1p(float x) { return ::log1pf(x); }
__device__ __forceinline__ double dlog1p(double x) { return ::log1p(x); }
__device__ __forceinline__ float dtanh(float x) { return ::tanhf(x); }
__device__ __forceinline__ double dtanh(double x) { return ::tanh(x); }
__device__ __forceinline__ float dsqrt(float x) { return ::sqrtf(x); }
__device__ __forceinline__ double dsqrt(double x) { return ::sqrt(x); }
__device__ __forceinline__ float dfabs(float x) { return ::fabsf(x); }
__device__ __forceinline__ double dfabs(double x) { return ::fabs(x); }
__device__ __forceinline__ float dfmax(float a, float b) { return ::fmaxf(a, b); }
__device__ __forceinline__ double dfmax(double a, double b) { return ::fmax(a, b); }
__device__ __forceinline__ float dfmin(float a, float b) { return ::fminf(a, b); }
__device__ __forceinline__ double dfmin(double a, double b) { return ::fmin(a, b); }
// The same bits as T(1) / x (a correctly rounded reciprocal is the correctly rounded quotient of 1), in
// fewer instructions than a division.
__device__ __forceinline__ float drcp(float x) { return __frcp_rn(x); }
__device__ __forceinline__ double drcp(double x) { return __drcp_rn(x); }
// Written out rather than isnan/isfinite, whose global overloads differ between nvcc and libstdc++.
template <typename T>
__device__ __forceinline__ bool disnan(T x) { return x != x; }
template <typename T>
__device__ __forceinline__ bool disfinite(T x) { return x - x == T(0); }

}  // namespace pydl::cuda

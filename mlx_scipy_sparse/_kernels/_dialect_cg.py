"""The one-kernel CG iteration (body in the dialect of :mod:`._dialect`).

Why one kernel: in MLX 0.32.4's CUDA backend each kernel that depends on the
one before costs ~20-25 us (benchmarks/NOTES.md, session 4), and textbook CG
needs two global reductions an iteration, so eight or so dependent kernels.
The Chronopoulos-Gear form of CG needs its two inner products at one point
of the iteration; and every vector update of it is elementwise given two
scalars, so the product can recompute the updated residual at the columns
it gathers instead of waiting for it to be written.  One launch is then one
whole iteration:

  from the previous launch: x, r, w = A r, p, s (= A p), and per thread
  group the partial sums of gamma = <r, r> and delta = <w, r>;
  every group reduces all partials (the same fixed order in every group, so
  every group holds the same gamma and delta, and a call gives the same bits
  every time), then
    stop  when gamma < tol**2 (scipy's |r| < atol, at the top of an iteration)
    beta  = gamma / gamma_prev            (0 on the first iteration)
    alpha = gamma / (delta - beta * gamma / alpha_prev)   (gamma / delta first)
    p' = r + beta p,  s' = w + beta s,  x' = x + alpha p',  r' = r - alpha s'
    w' = A r'   (r' at a gathered column c recomputed from r, w, s there)
  and writes its rows of x', r', w', p', s' and its partials of <r', r'>
  and <w', r'>.  A stopped iteration copies its inputs, so launches past
  the stop change nothing and the host may check every few launches.

Inputs: a, ci, rp (CSR, T values); V (6 n + 8 float32: per row the record
(r, w, s, 0), the product's gather reading all three at once, then x, then
p); aux (2 nb + 8 float32: the partials of gamma, those of delta, then
alpha_prev, gamma_prev, tol**2, and two int32 stored by their bits:
stopped, iterations done); P = [n, nb, rows per group].  Outputs V2 and
aux2, the same roles.  (The 8 spare elements keep both arrays out of
Metal's constant address space, where MLX puts inputs under 8 elements.)
Grid: nb groups of 256 threads, GW lanes a row.
"""

INPUTS = ["a", "ci", "rp", "V", "aux", "P"]
OUTPUTS = [("V2", "float32"), ("aux2", "float32")]

BODY = """
#define MSP_CG_NEXT(q) ((q).x - alpha * ((q).y + beta * (q).z))
  const int tid = @TID;
  const OT grp_id = @BID;
  const OT n = P[0], nb = P[1], rb = P[2];
  const @GLOBAL float* R = V;
  const @GLOBAL float* x = V + 4 * n;
  const @GLOBAL float* p = V + 5 * n;
  @GLOBAL float* R2 = V2;
  @GLOBAL float* x2 = V2 + 4 * n;
  @GLOBAL float* p2 = V2 + 5 * n;
  const @GLOBAL float* part = aux;
  const @GLOBAL float* sc = aux + 2 * nb;
  @GLOBAL float* part2 = aux2;
  @GLOBAL float* sc2 = aux2 + 2 * nb;
  @SHARED float red_in[16];
  @SHARED float red_out[16];
  float g = 0.0f, d = 0.0f;
  for (OT i = tid; i < nb; i += 256) { g += part[i]; d += part[nb + i]; }
  g = msp_group_sum<32>(g);
  d = msp_group_sum<32>(d);
  if (@LANE == 0) { red_in[tid >> 5] = g; red_in[8 + (tid >> 5)] = d; }
  @SYNC;
  float gamma = 0.0f, delta = 0.0f;
  for (int k = 0; k < 8; ++k) { gamma += red_in[k]; delta += red_in[8 + k]; }
  const int iters = msp_as_int(sc[4]);
  const bool stop = msp_as_int(sc[3]) != 0 || gamma < sc[2];
  const float beta = iters == 0 ? 0.0f : gamma / sc[1];
  const float alpha = iters == 0 ? gamma / delta : gamma / (delta - beta * gamma / sc[0]);
  const int per = 256 / GW;
  const int gi = tid / GW;
  const int gl = tid & (GW - 1);
  const OT r0 = grp_id * rb;
  const OT r1 = r0 + rb < n ? r0 + rb : n;
  float gp = 0.0f, dp = 0.0f;
  for (OT base = r0; base < r1; base += per) {
    const OT row = base + gi;
    const bool live = row < r1;
    float acc = 0.0f;
    if (live && !stop) {
      const OT e = (OT)rp[row + 1];
      for (OT q = (OT)rp[row] + gl; q < e; q += GW) {
        const OT c = (OT)msp_lds(ci + q);
        const float4 rc = msp_ld4(R, c);
        acc += msp_f(msp_lds(a + q)) * MSP_CG_NEXT(rc);
      }
    }
    acc = msp_group_sum<GW>(acc);
    if (live && gl == 0) {
      const float4 me = msp_ld4(R, row);
      if (stop) {
        msp_st4(R2, row, me.x, me.y, me.z, 0.0f);
        x2[row] = x[row];
        p2[row] = p[row];
      } else {
        const float pv = me.x + beta * p[row];
        const float rn = MSP_CG_NEXT(me);
        msp_st4(R2, row, rn, acc, me.y + beta * me.z, 0.0f);
        x2[row] = x[row] + alpha * pv;
        p2[row] = pv;
        gp += rn * rn;
        dp += acc * rn;
      }
    }
  }
  gp = msp_group_sum<32>(gp);
  dp = msp_group_sum<32>(dp);
  if (@LANE == 0) { red_out[tid >> 5] = gp; red_out[8 + (tid >> 5)] = dp; }
  @SYNC;
  if (tid == 0) {
    float gs = 0.0f, ds = 0.0f;
    for (int k = 0; k < 8; ++k) { gs += red_out[k]; ds += red_out[8 + k]; }
    part2[grp_id] = stop ? part[grp_id] : gs;
    part2[nb + grp_id] = stop ? part[nb + grp_id] : ds;
    if (grp_id == 0) {
      sc2[0] = stop ? sc[0] : alpha;
      sc2[1] = stop ? sc[1] : gamma;
      sc2[2] = sc[2];
      sc2[3] = msp_as_float(stop ? 1 : 0);
      sc2[4] = msp_as_float(stop ? iters : iters + 1);
    }
  }
#undef MSP_CG_NEXT
"""

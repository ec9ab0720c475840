"""Analysis tools: fixed points, bifurcation curves, Lyapunov exponents, spectra."""

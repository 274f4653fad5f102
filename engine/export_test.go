package engine

// Watched is the number of sessions h's idle check watches (for tests).
func Watched(h *Handler) int {
	h.idle.mu.Lock()
	defer h.idle.mu.Unlock()
	return len(h.idle.loops)
}

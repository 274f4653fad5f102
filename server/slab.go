package server

import (
	"sync"

	"github.com/parleychat/parley/chat"
)

// slabPool recycles the backing arrays of a connection writer's slices
// (its queue of events and its iovecs), so that a connection holds none
// while it has nothing to write, and one that is busy does not grow a
// fresh slice, and feed the garbage collector, for every batch. An array
// travels in a box; the emptied boxes wait in a second pool, so neither
// taking nor giving back allocates once the pools are warm.
type slabPool[T any] struct {
	full, empty sync.Pool // *slab[T] holding an array; *slab[T] holding none
	size        int       // capacity of a new array
	most        int       // larger arrays are not kept (a burst's)
}

type slab[T any] struct{ s []T }

// get returns an empty slice with room for at least size elements.
func (p *slabPool[T]) get() []T {
	if b, _ := p.full.Get().(*slab[T]); b != nil {
		s := b.s
		b.s = nil
		p.empty.Put(b)
		return s
	}
	return make([]T, 0, p.size)
}

// put gives back s's array; s must not be used after.
func (p *slabPool[T]) put(s []T) {
	if cap(s) == 0 || cap(s) > p.most {
		return
	}
	s = s[:cap(s)]
	clear(s) // no stale event or buffer stays reachable
	b, _ := p.empty.Get().(*slab[T])
	if b == nil {
		b = new(slab[T])
	}
	b.s = s[:0]
	p.full.Put(b)
}

var (
	eventSlabs = &slabPool[*chat.Event]{size: 32, most: 4096}
	bufSlabs   = &slabPool[[]byte]{size: maxWritev, most: maxWritev}
)

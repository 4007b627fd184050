// V8's young generation, set before any other module of the bundle runs (main.ts imports this first).
import { setFlagsFromString } from 'node:v8';

// V8 grows the young generation's two semi-spaces from 1 MB up to 16 MB each as a busy relay allocates;
// used in turn, all of it ends up resident: some 30 MB of RSS for garbage that a 1 MB nursery collects
// just as well, for a few % more time in GC. V8 reads --max-semi-space-size only when the heap is made,
// so from here it is the growth that can be turned off: the semi-spaces keep their initial size, which
// `node --min-semi-space-size=N` (MB) sets for who wants a larger one.
setFlagsFromString('--semi-space-growth-factor=1');

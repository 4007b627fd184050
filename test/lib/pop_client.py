# Drive Python's poplib (a real POP3 client) from a test: argv = host port ca-file steps-json.
# Each step is [method, *args] on poplib.POP3 ("stls" uses a context trusting ca-file). Prints one
# JSON object: the greeting and, per step, {"ok": result} or {"error": text}; stops at the first error.
import json
import poplib
import ssl
import sys


def plain(v):
    if isinstance(v, bytes):
        return v.decode('latin-1')
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    return v


host, port, ca, steps = sys.argv[1], int(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
out = {'steps': []}
pop = poplib.POP3(host, port, timeout=10)
out['greeting'] = plain(pop.getwelcome())
for step in steps:
    name, args = step[0], step[1:]
    try:
        if name == 'stls':
            ctx = ssl.create_default_context(cafile=ca)
            result = pop.stls(context=ctx)
            out['cipher'] = pop.sock.cipher()[0]
        else:
            result = getattr(pop, name)(*args)
        out['steps'].append({'ok': plain(result)})
    except Exception as e:  # noqa: BLE001 - the test wants every failure as data
        out['steps'].append({'error': plain(str(e))})
        break
print(json.dumps(out))

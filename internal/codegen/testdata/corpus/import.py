# Copies the PostgreSQL pgx/v5 cases of sqlc's examples/ and
# internal/endtoend/testdata/ (a checkout of sqlc at the pinned version in
# argv[1]) into argv[2]: only sqlc configurations and the SQL they name.
import os, sys, json, shutil, glob
try:
    import yaml
except ImportError:
    yaml = None
src, dst = sys.argv[1], sys.argv[2]
def load(p):
    t = open(p).read()
    if p.endswith('.json'):
        return json.loads(t)
    return yaml.safe_load(t)
n = 0
for base in ('examples', 'internal/endtoend/testdata'):
    for d, dirs, files in sorted(os.walk(os.path.join(src, base))):
        dirs.sort()
        cfs = [f for f in ('sqlc.yaml', 'sqlc.yml', 'sqlc.json') if f in files]
        if not cfs or 'stderr.txt' in files:
            continue  # sqlc is expected to fail
        if 'exec.json' in files:
            ex = json.load(open(os.path.join(d, 'exec.json')))
            if 'process' in ex or 'managed-db' in ex.get('contexts', []) or ex.get('command') not in (None, 'generate', 'diff'):
                continue  # needs a plugin process or a database

        cf = cfs[0]
        c = load(os.path.join(d, cf))
        v = str(c.get('version'))
        ents, paths = [], []
        if v == '1':
            for pk in c.get('packages') or []:
                ents.append((pk.get('engine') or 'postgresql', pk.get('sql_package', '')))
                for k in ('schema', 'queries'):
                    x = pk.get(k); paths += x if isinstance(x, list) else [x]
        elif v == '2':
            for s in c.get('sql') or []:
                g = (s.get('gen') or {}).get('go')
                ents.append((s.get('engine'), (g or {}).get('sql_package', '') if g else None))
                for k in ('schema', 'queries'):
                    x = s.get(k); paths += x if isinstance(x, list) else [x]
        if not any(e == 'postgresql' and sp == 'pgx/v5' for e, sp in ents):
            continue
        rel = os.path.relpath(d, src).replace('internal/endtoend/testdata', 'endtoend')
        out = os.path.join(dst, rel)
        os.makedirs(out, exist_ok=True)
        shutil.copy(os.path.join(d, cf), out)
        for p in paths:
            if p is None:
                continue
            for m in (glob.glob(os.path.join(d, p)) or [os.path.join(d, p)]):
                r = os.path.relpath(m, d)
                if r.startswith('..'):
                    print('outside case:', rel, p, file=sys.stderr)
                if os.path.isdir(m):
                    for f in sorted(os.listdir(m)):
                        if f.endswith('.sql'):
                            os.makedirs(os.path.join(out, r), exist_ok=True)
                            shutil.copy(os.path.join(m, f), os.path.join(out, r, f))
                elif os.path.exists(m):
                    os.makedirs(os.path.dirname(os.path.join(out, r)), exist_ok=True)
                    shutil.copy(m, os.path.join(out, r))
        n += 1
shutil.copy(os.path.join(src, 'LICENSE'), os.path.join(dst, 'LICENSE'))
print(n, 'cases')

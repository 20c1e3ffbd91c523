#!/usr/bin/env python3
"""The requests of `make sqlmap`: seeds a practice through the API, then writes one sqlmap
request file per route and role from docs/openapi.json, every injection point marked `*`.

    plan.py BASE_URL APP_PSQL_URL OPENAPI OUTDIR

Seeds a provider and its client (invited, then registered through the invitation), an
appointment, a message each way, an invoice, a clinical note, a time-off period and a calendar
feed; plus one provider and one client per route that ends or replaces its session (logout,
change-password), so that the others keep a valid token. Writes OUTDIR/requests/*.req and
OUTDIR/requests.tsv (file, method, route, role, injection points).
"""
import datetime
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request

base, app_url, openapi_path, out = sys.argv[1:5]
PASSWORD = 'scan passphrase 2026'
host = re.sub(r'^https?://', '', base).rstrip('/')


def api(method, path, body=None, token=None, want=200):
    headers = {'Content-Type': 'application/json', 'Accept': 'application/json'}
    if token:
        headers['Authorization'] = 'Bearer ' + token
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            status, text, hdrs = r.status, r.read().decode(), r.headers
    except urllib.error.HTTPError as e:
        status, text, hdrs = e.code, e.read().decode(), e.headers
    if status != want:
        sys.exit(f'plan: {method} {path}: {status} {text[:300]}')
    return (json.loads(text) if text else {}), hdrs


def register(key, user_type, **extra):
    body = {'email': f'scan-{key}@example.com', 'password': PASSWORD, 'name': f'Scan {key}',
            **extra}
    if user_type:
        body['userType'] = user_type
    r, _ = api('POST', '/api/auth/register', body, want=201)
    return {'id': r['user']['id'], 'token': r['token'], 'email': body['email']}


# ------------------------------------------------------------------ the practice
prov = register('provider', 'provider', hourlyRate=150, timeZone='America/New_York')
extra = {k: register(k, 'provider', hourlyRate=150) for k in ('provider-logout', 'provider-pw')}
# providers verified as the module's role would record a mailed link
emails = "', '".join([prov['email']] + [u['email'] for u in extra.values()])
subprocess.run(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', app_url, '-c',
                f"UPDATE users SET email_verified_via = 'link' WHERE email IN ('{emails}')"],
               check=True)
invite, _ = api('POST', '/api/provider/clients',
                {'email': 'scan-client@example.com', 'name': 'Scan client'}, prov['token'], 201)
invite_token = re.search(r'token=([^&]+)', invite['inviteUrl']).group(1)
cli = register('client', None, inviteToken=invite_token)
for k in ('client-logout', 'client-pw'):
    extra[k] = register(k, 'client', providerId=prov['id'])
subprocess.run(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', app_url, '-c',
                "UPDATE users SET email_verified_via = 'link' WHERE email LIKE 'scan-client-%'"],
               check=True)

day = (datetime.date.today() + datetime.timedelta(days=3)).isoformat()
later = (datetime.date.today() + datetime.timedelta(days=40)).isoformat()
appt, _ = api('POST', '/api/provider/appointments',
              {'clientId': cli['id'], 'date': day, 'time': '10:00'}, prov['token'], 201)
msg, _ = api('POST', '/api/messages', {'receiverId': prov['id'], 'message': 'Hello'},
             cli['token'], 201)
api('POST', '/api/messages', {'receiverId': cli['id'], 'message': 'Hello'}, prov['token'], 201)
invoice, _ = api('POST', '/api/billing/invoices',
                 {'clientId': cli['id'], 'amount': 125, 'description': 'Session'},
                 prov['token'], 201)
api('POST', '/api/provider/clinical-notes',
    {'appointmentId': appt['id'], 'type': 'Progress', 'content': {'text': 'Seen.'}},
    prov['token'], 201)
timeoff, _ = api('POST', '/api/provider/time-off', {'from': later, 'to': later}, prov['token'],
                 201)
feed, _ = api('POST', '/api/provider/calendar-feed', None, prov['token'], 201)
feed_token = re.search(r'([0-9a-f]{64}\.ics)', json.dumps(feed)).group(1)
# a cookie session (DocPortalCookieSessions On) for the Cookie header's injection point
_, hdrs = api('POST', '/api/auth/login',
              {'email': prov['email'], 'password': PASSWORD, 'session': 'cookie'})
cookie = '; '.join(sorted((c.split(';')[0] for c in hdrs.get_all('Set-Cookie') or []),
                          key=lambda c: c.startswith('dp_session=')))

ids = {'provider': prov['id'], 'client': cli['id']}
# a sample value by member or parameter name, else by schema
BY_NAME = {
    'clientId': cli['id'], 'providerId': prov['id'], 'appointmentId': appt['id'],
    'invoiceId': invoice['id'], 'actorId': prov['id'], 'resourceId': appt['id'],
    'email': 'scan-new@example.com', 'password': PASSWORD, 'currentPassword': PASSWORD,
    'newPassword': PASSWORD + ' 2', 'date': day, 'from': later, 'to': later, 'time': '10:00',
    'startTime': '09:00', 'endTime': '17:00', 'breakStart': '12:00', 'breakEnd': '13:00',
    'timeZone': 'America/New_York', 'dueDate': later, 'dateOfBirth': '1990-01-01',
    'conversationWith': None, 'receiverId': None, 'before': '2100-01-01T00:00:00Z',
    'sort': '-at', 'action': 'appointment.create', 'resourceType': 'appointment',
    'googleToken': 'x.y.z', 'token': 'abcdef', 'inviteToken': 'abcdef',
    'avatar': 'https://example.com/a.png', 'cardToken': 'tok_visa',
    'Stripe-Signature': 't=1,v1=00', 'type': None, 'content': None,
}
PATH_VALUE = {'/api/provider/time-off/{id}': timeoff['id'], '/api/messages/{id}/read': msg['id'],
              '/api/calendar/{token}': feed_token}

spec = json.load(open(openapi_path))
schemas = spec['components']['schemas']


def resolve(s):
    while '$ref' in s:
        s = schemas[s['$ref'].split('/')[-1]]
    return s


def sample(name, s, role, mark):
    """A valid-looking value for schema s, strings and numbers carrying the marker."""
    s = resolve(s)
    for key in ('allOf',):
        if key in s:
            merged = {'type': 'object', 'properties': {}, 'required': []}
            for part in s[key]:
                p = resolve(part)
                if p.get('type') == 'object' or 'properties' in p:
                    merged['properties'].update(p.get('properties', {}))
                elif 'type' in p or 'format' in p:
                    merged = {**p, **{k: v for k, v in s.items() if k != key}}
                    break
            s = merged if merged.get('properties') or 'type' not in s else s
    for key in ('anyOf', 'oneOf'):
        if key in s:
            s = resolve(next(x for x in s[key] if resolve(x).get('type') != 'null'))
    if name == 'receiverId' or name == 'conversationWith':
        v = ids['client' if role == 'provider' else 'provider']
        return v + mark
    t = s.get('type')
    if isinstance(t, list):
        t = next(x for x in t if x != 'null')
    if 'const' in s:
        return s['const']
    if t == 'object' or 'properties' in s:
        return {k: sample(k, v, role, mark) for k, v in s.get('properties', {}).items()
                if k != 'session'}
    if t == 'boolean':
        return True
    if t in ('integer', 'number'):
        n = s.get('minimum', 1)
        return Num(str(max(n, 1) if t == 'integer' else max(n, 125)) + mark)
    if BY_NAME.get(name) is not None:
        return str(BY_NAME[name]) + mark
    if 'enum' in s:
        return s['enum'][0] + mark
    if s.get('format') == 'uuid':
        return appt['id'] + mark
    return 'scan' + mark


class Num(str):
    """A number written bare in JSON (with its marker right after it)."""


def dump(v):
    if isinstance(v, Num):
        return str(v)
    if isinstance(v, dict):
        return '{' + ','.join(json.dumps(k) + ':' + dump(x) for k, x in v.items()) + '}'
    return json.dumps(v)


def count_marks(text):
    return text.count('*')


os.makedirs(f'{out}/requests', exist_ok=True)
rows = []
TOKENS = {'provider': prov['token'], 'client': cli['token']}
# routes that end or replace the session: their own account per role
OWN_ACCOUNT = {'/api/auth/logout': 'logout', '/api/auth/change-password': 'pw'}


def write(name, method, path, role, headers, body, route):
    lines = [f'{method} {path} HTTP/1.1', f'Host: {host}', 'Accept: application/json']
    lines = [line for line in lines if not any(
        line.split(':')[0] == h.split(':')[0] for h in headers)] + headers
    if body is not None:
        lines.append('Content-Type: application/json')
    text = '\r\n'.join(lines) + '\r\n\r\n' + (body or '')
    with open(f'{out}/requests/{name}.req', 'w') as f:
        f.write(text)
    rows.append((f'{name}.req', method, route, role, str(count_marks(text))))


n = 0
for path, ops in spec['paths'].items():
    for method, op in ops.items():
        if method == 'parameters':
            continue
        roles = op.get('x-roles') or ['anonymous']
        for role in roles:
            mark = '*'
            token = TOKENS.get(role)
            if role != 'anonymous' and path in OWN_ACCOUNT:
                token = extra[f'{role}-{OWN_ACCOUNT[path]}']['token']
            headers = [f'Authorization: Bearer {token}'] if token else []
            url = path
            query = []
            for p in op.get('parameters', []):
                v = sample(p['name'], p.get('schema', {}), role, mark)
                if p['in'] == 'path':
                    v = PATH_VALUE.get(path, v if p['name'] != 'id' else appt['id'] + mark)
                    if not str(v).endswith(mark):
                        v = str(v) + mark
                    url = url.replace('{' + p['name'] + '}', str(v))
                elif p['in'] == 'query':
                    query.append(f"{p['name']}={v}")
                elif p['in'] == 'header':
                    headers.append(f"{p['name']}: {v}")
            if query:
                url += '?' + '&'.join(query)
            body = None
            schema = (op.get('requestBody', {}).get('content', {}).get('application/json', {})
                      .get('schema'))
            if schema:
                body = dump(sample('', schema, role, mark))
            if '*' not in url + (body or '') + ''.join(headers):
                # nothing to inject but the session (or, anonymous, the Accept header)
                if token:
                    headers[0] += mark
                else:
                    headers.append('Accept: application/json' + mark)
            n += 1
            slug = re.sub(r'[^a-z0-9]+', '-', path.lower()[5:]).strip('-')
            write(f'{n:03d}-{method}-{slug}-{role}', method.upper(), url, role, headers, body, path)

# the request headers on a few endpoints: the session (Bearer and cookie), the forwarded
# scheme, content negotiation (the audit report answers CSV for text/csv)
for path in ('/api/auth/me', '/api/provider/appointments', '/api/audit'):
    n += 1
    slug = re.sub(r'[^a-z0-9]+', '-', path.lower()[5:]).strip('-')
    write(f'{n:03d}-get-{slug}-headers', 'GET', path, 'provider',
          [f'Authorization: Bearer {prov["token"]}*', 'X-Forwarded-Proto: https*',
           'Accept: application/json*'], None, path)
    n += 1
    write(f'{n:03d}-get-{slug}-cookie', 'GET', path, 'provider (cookie)',
          [f'Cookie: {cookie}*'], None, path)

with open(f'{out}/requests.tsv', 'w') as f:
    f.write('file\tmethod\troute\trole\tpoints\n')
    for r in rows:
        f.write('\t'.join(r) + '\n')
print(f'plan: {len(rows)} request files, {sum(int(r[4]) for r in rows)} injection points',
      file=sys.stderr)

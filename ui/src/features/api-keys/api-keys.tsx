/**
 * API keys (GetApiKeys): one's own, and everyone's for Owner and Global Admin. A new key's secret
 * is shown once and never stored by the console. Read-Only users only read.
 */
import { useState, type FormEvent } from 'react';
import { queryOptions, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, operationId, seg } from '../../lib/api-client';
import { useUser } from '../../lib/auth';
import { Button, CopyButton, ErrorBox, Loading, TextField, formatTime } from '../../components/ui';

interface ApiKey {
  id: string;
  resourceVersion: string;
  spec: { ownerId: string; displayName: string; description?: string; disabled?: boolean; expiryTime?: string };
  createdTime?: string;
}

const keysQuery = () =>
  queryOptions({
    queryKey: ['api-keys'],
    queryFn: async () => {
      const all: ApiKey[] = [];
      let token = '';
      do {
        const page = await api<{ apiKeys?: ApiKey[]; nextPageToken?: string }>(
          'GET',
          `/cloud/api-keys?page_size=100${token ? `&page_token=${seg(token)}` : ''}`,
        );
        all.push(...(page.apiKeys ?? []));
        token = page.nextPageToken ?? '';
      } while (token);
      return all;
    },
  });

/** Roles that change keys in the console (Read-Only and Metrics Read only read). */
const WRITERS = ['ROLE_OWNER', 'ROLE_ADMIN', 'ROLE_DEVELOPER', 'ROLE_FINANCE_ADMIN'];

export default function ApiKeys() {
  const me = useUser();
  const canWrite = WRITERS.includes(me.role);
  const qc = useQueryClient();
  const keys = useQuery(keysQuery());
  const [name, setName] = useState('');
  const [days, setDays] = useState('90');
  const [secret, setSecret] = useState<string | undefined>();
  const invalidate = () => qc.invalidateQueries({ queryKey: ['api-keys'] });
  const create = useMutation({
    mutationFn: () =>
      api<{ keyId: string; token: string }>('POST', '/cloud/api-keys', {
        body: {
          spec: {
            owner_id: me.user_id,
            owner_type: 'OWNER_TYPE_USER',
            display_name: name.trim(),
            expiry_time: new Date(Date.now() + Number(days) * 86_400_000).toISOString(),
          },
          async_operation_id: operationId(),
        },
      }),
    onSuccess: (r) => {
      setSecret(r.token);
      setName('');
      void invalidate();
    },
  });
  const del = useMutation({
    mutationFn: (k: ApiKey) =>
      api(
        'DELETE',
        `/cloud/api-keys/${seg(k.id)}?${new URLSearchParams({ resource_version: k.resourceVersion, async_operation_id: operationId() }).toString()}`,
      ),
    onSuccess: () => void invalidate(),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate();
  };
  return (
    <main id="main" className="page">
      <h1>API keys</h1>
      {canWrite && (
        <section className="card" aria-labelledby="new-key-title">
          <h2 id="new-key-title">Create an API key</h2>
          <form onSubmit={submit} className="inline-form">
            <TextField label="Display name" required value={name} onChange={(e) => setName(e.target.value)} />
            <TextField label="Expires in (days)" type="number" min={1} max={730} required value={days} onChange={(e) => setDays(e.target.value)} />
            <Button type="submit" disabled={!name || create.isPending}>
              Create API key
            </Button>
          </form>
          {create.isError && <ErrorBox title="Not created" error={create.error} />}
          {secret && (
            <div role="status" className="note">
              <p>The key&apos;s secret, shown once: store it now.</p>
              <code className="secret">{secret}</code> <CopyButton text={secret} label="Copy API key" />
            </div>
          )}
        </section>
      )}
      {keys.isPending && <Loading what="API keys" />}
      {keys.isError && <ErrorBox title="Could not load the API keys" error={keys.error} />}
      {keys.data && keys.data.length === 0 && <p className="muted">No API keys.</p>}
      {keys.data && keys.data.length > 0 && (
        <table>
          <caption className="sr-only">API keys</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Id</th>
              <th scope="col">Owner</th>
              <th scope="col">Expires</th>
              <th scope="col">State</th>
              {canWrite && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {keys.data.map((k) => (
              <tr key={k.id}>
                <td>{k.spec.displayName}</td>
                <td>
                  <code>{k.id}</code>
                </td>
                <td>{k.spec.ownerId === me.user_id ? 'you' : k.spec.ownerId}</td>
                <td>{formatTime(k.spec.expiryTime)}</td>
                <td>{k.spec.disabled ? 'Disabled' : 'Enabled'}</td>
                {canWrite && (
                  <td>
                    <Button variant="danger" onClick={() => del.mutate(k)} disabled={del.isPending}>
                      Delete {k.spec.displayName}
                    </Button>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {del.isError && <ErrorBox title="Not deleted" error={del.error} />}
    </main>
  );
}

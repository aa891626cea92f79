/**
 * Users of the account (GetUsers). Owner and Global Admin invite (CreateUser, then a one-time
 * link from POST /api/v1/users/:id/invitation, shown once) and delete; others only read.
 */
import { useState, type FormEvent } from 'react';
import { queryOptions, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, operationId, seg } from '../../lib/api-client';
import { isAdmin, ROLE_NAMES, useUser } from '../../lib/auth';
import { Button, CopyButton, ErrorBox, Loading, SelectField, TextField } from '../../components/ui';

interface User {
  id: string;
  resourceVersion: string;
  spec: { email: string; access: { accountAccess: { role: string } } };
  invitation?: { expiredTime?: string };
}

const usersQuery = () =>
  queryOptions({
    queryKey: ['users'],
    queryFn: async () => {
      const all: User[] = [];
      let token = '';
      do {
        const page = await api<{ users?: User[]; nextPageToken?: string }>('GET', `/cloud/users?page_size=100${token ? `&page_token=${seg(token)}` : ''}`);
        all.push(...(page.users ?? []));
        token = page.nextPageToken ?? '';
      } while (token);
      return all;
    },
  });

/** Roles an admin may grant (never above their own: the server refuses that too). */
const GRANTABLE = ['ROLE_ADMIN', 'ROLE_DEVELOPER', 'ROLE_FINANCE_ADMIN', 'ROLE_READ', 'ROLE_METRICS_READ'];

function Invite() {
  const qc = useQueryClient();
  const [email, setEmail] = useState('');
  const [role, setRole] = useState('ROLE_READ');
  const [link, setLink] = useState<string | undefined>();
  const invite = useMutation({
    mutationFn: async () => {
      const created = await api<{ userId: string }>('POST', '/cloud/users', {
        body: { spec: { email: email.trim(), access: { account_access: { role } } }, async_operation_id: operationId() },
      });
      const inv = await api<{ token: string }>('POST', `/api/v1/users/${seg(created.userId)}/invitation`, { body: {} });
      return `${window.location.origin}/accept-invite#token=${encodeURIComponent(inv.token)}`;
    },
    onSuccess: (l) => {
      setLink(l);
      setEmail('');
      void qc.invalidateQueries({ queryKey: ['users'] });
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    invite.mutate();
  };
  return (
    <section aria-labelledby="invite-title" className="card">
      <h2 id="invite-title">Invite a user</h2>
      <form onSubmit={submit} className="inline-form">
        <TextField label="Email" type="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
        <SelectField label="Role" value={role} onChange={(e) => setRole(e.target.value)}>
          {GRANTABLE.map((r) => (
            <option key={r} value={r}>
              {ROLE_NAMES[r]}
            </option>
          ))}
        </SelectField>
        <Button type="submit" disabled={!email || invite.isPending}>
          Invite
        </Button>
      </form>
      {invite.isError && <ErrorBox title="Not invited" error={invite.error} />}
      {link && (
        <div role="status" className="note">
          <p>One-time invitation link (shown once, valid 7 days):</p>
          <code className="secret">{link}</code> <CopyButton text={link} label="Copy invitation link" />
        </div>
      )}
    </section>
  );
}

export default function Users() {
  const me = useUser();
  const admin = isAdmin(me.role);
  const qc = useQueryClient();
  const users = useQuery(usersQuery());
  const [confirm, setConfirm] = useState<User | undefined>();
  const del = useMutation({
    mutationFn: (u: User) =>
      api('DELETE', `/cloud/users/${seg(u.id)}?${new URLSearchParams({ resource_version: u.resourceVersion, async_operation_id: operationId() }).toString()}`),
    onSuccess: () => {
      setConfirm(undefined);
      void qc.invalidateQueries({ queryKey: ['users'] });
    },
  });
  return (
    <main id="main" className="page">
      <h1>Users</h1>
      {admin && <Invite />}
      {users.isPending && <Loading what="users" />}
      {users.isError && <ErrorBox title="Could not load the users" error={users.error} />}
      {users.data && (
        <table>
          <caption className="sr-only">Users of the account</caption>
          <thead>
            <tr>
              <th scope="col">Email</th>
              <th scope="col">Role</th>
              <th scope="col">State</th>
              {admin && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {users.data.map((u) => (
              <tr key={u.id}>
                <td>{u.spec.email}</td>
                <td>{ROLE_NAMES[u.spec.access.accountAccess.role] ?? u.spec.access.accountAccess.role}</td>
                <td>{u.invitation ? 'Invited' : 'Active'}</td>
                {admin && (
                  <td>
                    {u.id !== me.user_id && (
                      <Button variant="danger" onClick={() => setConfirm(u)}>
                        Delete {u.spec.email}
                      </Button>
                    )}
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {confirm && (
        <div role="alertdialog" aria-labelledby="del-user-title" className="confirm">
          <h2 id="del-user-title">Delete user {confirm.spec.email}?</h2>
          <Button variant="danger" onClick={() => del.mutate(confirm)} disabled={del.isPending}>
            Delete user
          </Button>{' '}
          <Button variant="secondary" onClick={() => setConfirm(undefined)}>
            Cancel
          </Button>
          {del.isError && <ErrorBox title="Not deleted" error={del.error} />}
        </div>
      )}
    </main>
  );
}

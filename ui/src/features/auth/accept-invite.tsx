/**
 * Accept an invitation from its one-time link (`/accept-invite#token=...`: in the fragment, so the
 * token never reaches a server log or a Referer). Sets the password (POST /auth/accept-invite).
 */
import { useState, type FormEvent } from 'react';
import { Link } from 'react-router-dom';
import { useMutation } from '@tanstack/react-query';
import { api } from '../../lib/api-client';
import { Button, ErrorBox, TextField } from '../../components/ui';

function tokenFromLocation(): string {
  const hash = new URLSearchParams(window.location.hash.slice(1));
  return hash.get('token') ?? new URLSearchParams(window.location.search).get('token') ?? '';
}

export default function AcceptInvite() {
  const [token] = useState(tokenFromLocation);
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const accept = useMutation({
    mutationFn: () => api<{ email: string }>('POST', '/auth/accept-invite', { body: { token, password }, noRedirect: true }),
  });
  const mismatch = confirm !== '' && confirm !== password ? 'The passwords differ' : undefined;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!mismatch) accept.mutate();
  };
  return (
    <main id="main" className="page narrow">
      <h1>Accept invitation</h1>
      {!token && <p role="alert">This link has no invitation token. Ask an administrator for a new invitation.</p>}
      {accept.isSuccess ? (
        <p role="status">
          Password set for {accept.data.email}. <Link to="/sign-in">Sign in</Link>
        </p>
      ) : (
        <form onSubmit={submit} noValidate>
          <TextField label="Password" type="password" autoComplete="new-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
          <TextField
            label="Repeat password"
            type="password"
            autoComplete="new-password"
            required
            value={confirm}
            onChange={(e) => setConfirm(e.target.value)}
            error={mismatch}
          />
          {accept.isError && <ErrorBox title="Could not accept" error={accept.error} />}
          <Button type="submit" disabled={!token || accept.isPending}>
            Set password
          </Button>
        </form>
      )}
    </main>
  );
}

/** Sign in (POST /auth/login). On an empty install, points to where the first owner's credentials are. */
import { useState, type FormEvent } from 'react';
import { Navigate, useSearchParams } from 'react-router-dom';
import { useSession, useSignIn } from '../../lib/auth';
import { Button, ErrorBox, Loading, TextField } from '../../components/ui';

/** Only a path of this console: never an absolute URL an attacker put in `redirect`. */
function safeRedirect(v: string | null): string {
  return v && v.startsWith('/') && !v.startsWith('//') && !v.startsWith('/\\') ? v : '/';
}

export default function SignIn() {
  const session = useSession();
  const signIn = useSignIn();
  const [params] = useSearchParams();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const redirect = safeRedirect(params.get('redirect'));
  if (session.isPending) return <Loading what="session" />;
  if (session.data?.signed_in) return <Navigate to={redirect} replace />;
  const hint = session.data && !session.data.signed_in ? session.data.initial_admin_file : null;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    signIn.mutate({ email, password });
  };
  return (
    <main id="main" className="page narrow">
      <h1>Sign in</h1>
      <p className="muted">auditstream console</p>
      {hint && (
        <p className="note">
          First start: the first owner&apos;s email and password are in <code>{hint}</code> on the server (readable by the operator only).
        </p>
      )}
      <form onSubmit={submit} noValidate>
        <TextField label="Email" type="email" name="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
        <TextField
          label="Password"
          type="password"
          name="password"
          autoComplete="current-password"
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
        {signIn.isError && <ErrorBox title="Sign-in failed" error={signIn.error} />}
        <Button type="submit" disabled={signIn.isPending}>
          {signIn.isPending ? 'Signing in…' : 'Sign in'}
        </Button>
      </form>
    </main>
  );
}

// Sign in with e-mail and password.

import { useState } from 'preact/hooks';
import { session } from '../app';
import { Field, FormError } from '../ui/components';
import { useAction } from '../ui/hooks';

/** The sign-in page. */
export function SignIn() {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const signIn = useAction(() => session.signIn(email, password));
  return (
    <main id="main" class="sign-in">
      <form
        aria-labelledby="sign-in-title"
        onSubmit={(e) => {
          e.preventDefault();
          signIn.run();
        }}
      >
        <h1 id="sign-in-title">Sign in to vms</h1>
        <Field label="E-mail">
          <input name="email" type="email" autoComplete="username" required value={email} onInput={(e) => setEmail((e.target as HTMLInputElement).value)} />
        </Field>
        <Field label="Password">
          <input name="password" type="password" autoComplete="current-password" required value={password} onInput={(e) => setPassword((e.target as HTMLInputElement).value)} />
        </Field>
        <FormError error={signIn.error} />
        <button type="submit" class="primary" disabled={signIn.busy}>
          {signIn.busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}

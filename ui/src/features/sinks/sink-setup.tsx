/**
 * The Audit Log Integration page (Setup): a Kinesis sink by Access method Auto (save, then open
 * CloudFormation's quick-create link in a new tab) or Manual (save, then download the template
 * filled with this sink's parameters); or a Pub/Sub sink (save, then the two gcloud grants).
 */
import { useState, type FormEvent } from 'react';
import { Link, useNavigate } from 'react-router-dom';
import { AWS_REGIONS, filledTemplate, getSetup, useCreateSink, type SinkSpec } from './api';
import { Button, ErrorBox, SelectField, TextField, downloadText } from '../../components/ui';

type Kind = 'kinesis' | 'pubsub';
type Method = 'auto' | 'manual';

/** The region inside a Kinesis stream ARN (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME), if any. */
function regionOfArn(arn: string): string | undefined {
  const m = /^arn:aws[a-z-]*:kinesis:([a-z0-9-]+):\d{12}:stream\/.+$/.exec(arn.trim());
  return m?.[1];
}

export default function SinkSetup() {
  const navigate = useNavigate();
  const create = useCreateSink();
  const [kind, setKind] = useState<Kind>('kinesis');
  const [method, setMethod] = useState<Method>('auto');
  const [name, setName] = useState('audit-logs');
  const [arn, setArn] = useState('');
  const [roleName, setRoleName] = useState('');
  const [region, setRegion] = useState('');
  const [serviceAccount, setServiceAccount] = useState('');
  const [topic, setTopic] = useState('');
  const [project, setProject] = useState('');
  const [problem, setProblem] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);

  const arnError = arn !== '' && !regionOfArn(arn) ? 'A Kinesis stream ARN looks like arn:aws:kinesis:us-east-1:123456789012:stream/NAME' : undefined;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setProblem(undefined);
    const spec: SinkSpec =
      kind === 'kinesis'
        ? { name: name.trim(), enabled: true, kinesisSink: { destinationUri: arn.trim(), roleName: roleName.trim(), region } }
        : { name: name.trim(), enabled: true, pubSubSink: { serviceAccountId: serviceAccount.trim(), topicName: topic.trim(), gcpProjectId: project.trim() } };
    setBusy(true);
    try {
      await create.mutateAsync(spec);
      let note: string | undefined;
      if (kind === 'kinesis') {
        try {
          const setup = await getSetup(spec.name);
          if (setup.kind === 'kinesis' && method === 'auto') {
            if (setup.quick_create_url) window.open(setup.quick_create_url, '_blank', 'noopener,noreferrer');
            else note = 'Saved. Auto needs the operator to publish the template (AUDITSTREAM_CFN_TEMPLATE_URL): download the template below instead.';
          } else if (setup.kind === 'kinesis') {
            downloadText(setup.template_file_name, filledTemplate(setup), 'application/json');
          }
        } catch (err) {
          note = `Saved, but the set-up details are not available: ${(err as Error).message}`;
        }
      }
      navigate(`/settings/audit-logs/sinks/${encodeURIComponent(spec.name)}`, { state: note ? { note } : undefined });
    } catch (err) {
      setProblem((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main id="main" className="page">
      <p className="crumbs">
        <Link to="/settings">Settings</Link> / <Link to="/settings/audit-logs">Audit Logs</Link> / Setup
      </p>
      <h1>Audit Log Integration</h1>
      <form onSubmit={(e) => void submit(e)} noValidate>
        <fieldset>
          <legend>Destination</legend>
          <label className="choice">
            <input type="radio" name="kind" checked={kind === 'kinesis'} onChange={() => setKind('kinesis')} /> AWS Kinesis
          </label>
          <label className="choice">
            <input type="radio" name="kind" checked={kind === 'pubsub'} onChange={() => setKind('pubsub')} /> GCP Pub/Sub
          </label>
        </fieldset>
        <TextField
          label="Sink name"
          required
          value={name}
          onChange={(e) => setName(e.target.value)}
          hint="Letters, digits and dashes; one account may have several sinks."
        />
        {kind === 'kinesis' ? (
          <>
            <fieldset>
              <legend>Access method</legend>
              <label className="choice">
                <input type="radio" name="method" checked={method === 'auto'} onChange={() => setMethod('auto')} /> Auto
              </label>
              <label className="choice">
                <input type="radio" name="method" checked={method === 'manual'} onChange={() => setMethod('manual')} /> Manual
              </label>
              <p className="hint">
                {method === 'auto'
                  ? 'Auto: opens the AWS CloudFormation console with the stack ready to create in your account.'
                  : 'Manual: downloads a CloudFormation template to create the stack yourself.'}
              </p>
            </fieldset>
            <TextField
              label="Kinesis ARN"
              required
              value={arn}
              error={arnError}
              placeholder="arn:aws:kinesis:us-east-1:123456789012:stream/audit"
              onChange={(e) => {
                setArn(e.target.value);
                const r = regionOfArn(e.target.value);
                if (r && region === '') setRegion(r);
              }}
            />
            <TextField
              label="Role name"
              required
              value={roleName}
              onChange={(e) => setRoleName(e.target.value)}
              hint="A new IAM role the stack creates; auditstream assumes it to write."
            />
            <SelectField label="Select an AWS region" required value={region} onChange={(e) => setRegion(e.target.value)}>
              <option value="">Choose a region</option>
              {AWS_REGIONS.map((r) => (
                <option key={r} value={r}>
                  {r}
                </option>
              ))}
            </SelectField>
            {problem && <ErrorBox title="Not saved" error={problem} />}
            <Button type="submit" disabled={busy}>
              {method === 'auto' ? 'Save and launch stack' : 'Save and download template'}
            </Button>
          </>
        ) : (
          <>
            <TextField
              label="Service account"
              required
              value={serviceAccount}
              onChange={(e) => setServiceAccount(e.target.value)}
              placeholder="audit-writer@your-project.iam.gserviceaccount.com"
              hint="Your service account that may publish to the topic; auditstream impersonates it."
            />
            <TextField label="Topic" required value={topic} onChange={(e) => setTopic(e.target.value)} placeholder="audit-logs" />
            <TextField label="GCP project" required value={project} onChange={(e) => setProject(e.target.value)} placeholder="your-project" />
            {problem && <ErrorBox title="Not saved" error={problem} />}
            <Button type="submit" disabled={busy}>
              Save
            </Button>
          </>
        )}
      </form>
    </main>
  );
}

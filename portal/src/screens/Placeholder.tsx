import { Link } from 'react-router-dom';
import { usePageTitle } from '../components/Layout';

/** A section of the portal that is not built yet: says so plainly. */
export default function Placeholder({ title }: { title: string }) {
  usePageTitle(title);
  return (
    <>
      <h1>{title}</h1>
      <p>This part of the portal is not available yet.</p>
      <p>
        <Link to="/dashboard">Back to your dashboard</Link>
      </p>
    </>
  );
}

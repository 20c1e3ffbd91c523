import { Link } from 'react-router-dom';
import { usePageTitle } from '../components/Layout';

export default function NotFound() {
  usePageTitle('Page not found');
  return (
    <>
      <h1>Page not found</h1>
      <p>If you typed the web address, check it is correct.</p>
      <p>
        <Link to="/dashboard">Go to your dashboard</Link>
      </p>
    </>
  );
}

/** The sample app's users (a real app asks its user store; passwords here are for the demo page). */
export interface User {
  id: number;
  username: string;
}

const USERS = [
  { id: 1, username: 'ada', password: 'lovelace' },
  { id: 2, username: 'alan', password: 'turing' },
];

export function checkPassword(username: string, password: string): User | null {
  const user = USERS.find((u) => u.username === username && u.password === password);
  return user ? { id: user.id, username: user.username } : null;
}

export function userById(id: unknown): User | null {
  const user = USERS.find((u) => u.id === id);
  return user ? { id: user.id, username: user.username } : null;
}

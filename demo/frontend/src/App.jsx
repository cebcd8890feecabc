import { useEffect, useMemo, useState } from "react";
import { checkout, listOrders, listProducts } from "./api.js";

const money = (cents) => `$${(cents / 100).toFixed(2)}`;

function ProductCard({ product, onAdd }) {
  return (
    <li className="product" data-testid="product">
      <div className="emoji" aria-hidden="true">{product.emoji}</div>
      <h3>{product.name}</h3>
      <p>{product.description}</p>
      <div className="buy">
        <span className="price">{money(product.price_cents)}</span>
        <button onClick={() => onAdd(product)} data-testid={`add-${product.id}`}>
          Add to cart
        </button>
      </div>
    </li>
  );
}

function Cart({ lines, onRemove, onCheckout, busy }) {
  const [customer, setCustomer] = useState("");
  const total = lines.reduce((sum, l) => sum + l.product.price_cents * l.quantity, 0);
  return (
    <aside className="cart" data-testid="cart">
      <h2>Cart</h2>
      {lines.length === 0 && <p className="muted">Your cart is empty.</p>}
      <ul>
        {lines.map((l) => (
          <li key={l.product.id} data-testid="cart-line">
            <span>
              {l.quantity} × {l.product.name}
            </span>
            <span>{money(l.product.price_cents * l.quantity)}</span>
            <button className="link" onClick={() => onRemove(l.product.id)}>
              remove
            </button>
          </li>
        ))}
      </ul>
      <p className="total">
        Total <strong data-testid="cart-total">{money(total)}</strong>
      </p>
      <input
        placeholder="Your name"
        value={customer}
        onChange={(e) => setCustomer(e.target.value)}
        data-testid="customer"
      />
      <button
        disabled={busy || lines.length === 0}
        onClick={() => onCheckout(customer || "guest")}
        data-testid="checkout"
      >
        {busy ? "Placing order…" : "Check out"}
      </button>
    </aside>
  );
}

export default function App() {
  const [products, setProducts] = useState([]);
  const [cart, setCart] = useState({});
  const [orders, setOrders] = useState([]);
  const [message, setMessage] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);

  const refreshOrders = () => listOrders().then((o) => setOrders(o.orders)).catch(() => {});

  useEffect(() => {
    listProducts()
      .then((p) => setProducts(p.products))
      .catch((e) => setError(`Could not load products: ${e.message}`));
    refreshOrders();
  }, []);

  const lines = useMemo(
    () =>
      Object.entries(cart).map(([id, quantity]) => ({
        product: products.find((p) => String(p.id) === id),
        quantity,
      })).filter((l) => l.product),
    [cart, products]
  );

  const add = (product) =>
    setCart((c) => ({ ...c, [product.id]: (c[product.id] || 0) + 1 }));
  const remove = (id) =>
    setCart((c) => {
      const next = { ...c };
      delete next[id];
      return next;
    });

  const placeOrder = async (customer) => {
    setBusy(true);
    setError(null);
    try {
      const items = lines.map((l) => ({ product_id: l.product.id, quantity: l.quantity }));
      const order = await checkout(customer, items);
      setMessage(`Thank you! Order #${order.id} placed: ${money(order.total_cents)}.`);
      setCart({});
      refreshOrders();
    } catch (e) {
      setError(`Checkout failed: ${e.message}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="page">
      <header>
        <h1>OpenECS Shop</h1>
        <p className="muted">
          React on FARGATE behind the load balancer; <code>/api/*</code> goes to Flask, orders
          to PostgreSQL.
        </p>
      </header>
      {message && (
        <p className="notice" data-testid="confirmation">
          {message}
        </p>
      )}
      {error && (
        <p className="error" data-testid="error">
          {error}
        </p>
      )}
      <main>
        <ul className="products" data-testid="products">
          {products.map((p) => (
            <ProductCard key={p.id} product={p} onAdd={add} />
          ))}
        </ul>
        <Cart lines={lines} onRemove={remove} onCheckout={placeOrder} busy={busy} />
      </main>
      <section className="orders">
        <h2>Recent orders</h2>
        <table data-testid="orders">
          <thead>
            <tr>
              <th>#</th>
              <th>Customer</th>
              <th>Items</th>
              <th>Total</th>
              <th>Served by</th>
            </tr>
          </thead>
          <tbody>
            {orders.map((o) => (
              <tr key={o.id}>
                <td>{o.id}</td>
                <td>{o.customer}</td>
                <td>{o.items}</td>
                <td>{money(o.total_cents)}</td>
                <td>{o.served_by}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </div>
  );
}

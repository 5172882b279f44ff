// Ed25519 on OpenSSL BIGNUMs (see ed25519.hpp). Curve and formulas: RFC 8032 section 5.1 (edwards25519:
// -x^2 + y^2 = 1 + d x^2 y^2 over p = 2^255 - 19), points in extended coordinates (X:Y:Z:T), x = X/Z,
// y = Y/Z, x*y = T/Z, added with the complete formula of section 5.1.4 (which also doubles).
#include "backends/mysql/auth/ed25519.hpp"

#include "backends/mysql/wire/payload_reader.hpp"

#include <openssl/bn.h>
#include <openssl/evp.h>

#include <memory>

namespace sluice::backends::mysql::auth {

namespace {

struct bn_free {
  void operator()(BIGNUM* n) const noexcept { BN_clear_free(n); }
};
using bn_ptr = std::unique_ptr<BIGNUM, bn_free>;
struct ctx_free {
  void operator()(BN_CTX* c) const noexcept { BN_CTX_free(c); }
};

// The group order L = 2^252 + 27742317777372353535851937790883648493 and the base point (RFC 8032 5.1).
constexpr const char* order_dec = "7237005577332262213973186563042994240857116359379907606001950938285454250989";
constexpr const char* base_x_dec = "15112221349535400772501151409588531511454012693041857206046113283949847762202";
constexpr const char* base_y_dec = "46316835694926478169428394003475163141307993866256225615783033603165251855960";

struct point {
  bn_ptr x, y, z, t;
};

// One computation's worth of field and scalar arithmetic. Every operation records failure in ok_ (an
// allocation or an OpenSSL error) and the caller checks it once at the end.
class curve {
 public:
  curve() : ctx_(BN_CTX_new()) {
    ok_ = ctx_ != nullptr;
    p_ = make();
    d_ = make();
    d2_ = make();
    l_ = make();
    if (!ok_) return;
    // p = 2^255 - 19
    ok_ = BN_set_bit(p_.get(), 255) == 1 && BN_sub_word(p_.get(), 19) == 1;
    // d = -121665 / 121666 mod p
    bn_ptr num = make(), den = make();
    if (!ok_) return;
    ok_ = BN_set_word(num.get(), 121665) == 1 && BN_set_word(den.get(), 121666) == 1 &&
          BN_mod_inverse(den.get(), den.get(), p_.get(), ctx()) != nullptr &&
          BN_mod_mul(d_.get(), num.get(), den.get(), p_.get(), ctx()) == 1 &&
          BN_mod_sub(d_.get(), p_.get(), d_.get(), p_.get(), ctx()) == 1 &&
          BN_mod_add(d2_.get(), d_.get(), d_.get(), p_.get(), ctx()) == 1;
    BIGNUM* raw = l_.release();
    ok_ = ok_ && BN_dec2bn(&raw, order_dec) != 0;
    l_.reset(raw);
  }

  bool ok() const noexcept { return ok_; }
  BN_CTX* ctx() const noexcept { return ctx_.get(); }
  const BIGNUM* order() const noexcept { return l_.get(); }

  bn_ptr make() {
    bn_ptr n(BN_new());
    if (!n) ok_ = false;
    return n;
  }
  bn_ptr from_dec(const char* text) {
    BIGNUM* raw = nullptr;
    if (BN_dec2bn(&raw, text) == 0) ok_ = false;
    return bn_ptr(raw);
  }
  // Little-endian bytes (RFC 8032's integer encoding).
  bn_ptr from_le(bytes data) {
    bn_ptr n(BN_lebin2bn(data.data(), static_cast<int>(data.size()), nullptr));
    if (!n) ok_ = false;
    return n;
  }
  void to_le(const BIGNUM* n, std::uint8_t* out, std::size_t size) {
    if (!ok_ || BN_bn2lebinpad(n, out, static_cast<int>(size)) != static_cast<int>(size)) ok_ = false;
  }

  // Field operations mod p (r may alias a or b).
  void mul(BIGNUM* r, const BIGNUM* a, const BIGNUM* b) {
    if (ok_ && BN_mod_mul(r, a, b, p_.get(), ctx()) != 1) ok_ = false;
  }
  void add(BIGNUM* r, const BIGNUM* a, const BIGNUM* b) {
    if (ok_ && BN_mod_add(r, a, b, p_.get(), ctx()) != 1) ok_ = false;
  }
  void sub(BIGNUM* r, const BIGNUM* a, const BIGNUM* b) {
    if (ok_ && BN_mod_sub(r, a, b, p_.get(), ctx()) != 1) ok_ = false;
  }
  void exp(BIGNUM* r, const BIGNUM* a, const BIGNUM* e) {
    if (ok_ && BN_mod_exp(r, a, e, p_.get(), ctx()) != 1) ok_ = false;
  }
  void inverse(BIGNUM* r, const BIGNUM* a) {
    if (ok_ && BN_mod_inverse(r, a, p_.get(), ctx()) == nullptr) ok_ = false;
  }
  // Scalar reduction mod L.
  void reduce(BIGNUM* r, const BIGNUM* a) {
    if (ok_ && BN_nnmod(r, a, l_.get(), ctx()) != 1) ok_ = false;
  }

  point make_point() { return point{make(), make(), make(), make()}; }

  void set_identity(point& q) {
    if (!ok_) return;
    BN_zero(q.x.get());
    BN_zero(q.t.get());
    ok_ = BN_one(q.y.get()) == 1 && BN_one(q.z.get()) == 1;
  }

  point base() {
    point b = make_point();
    if (!ok_) return b;
    b.x = from_dec(base_x_dec);
    b.y = from_dec(base_y_dec);
    if (!ok_) return b;
    ok_ = BN_one(b.z.get()) == 1;
    mul(b.t.get(), b.x.get(), b.y.get());
    return b;
  }

  // r = a + b (RFC 8032 5.1.4); r may be a or b.
  void add_points(point& r, const point& a, const point& b) {
    bn_ptr ta = make(), tb = make(), tc = make(), td = make(), u = make(), v = make();
    if (!ok_) return;
    sub(u.get(), a.y.get(), a.x.get());
    sub(v.get(), b.y.get(), b.x.get());
    mul(ta.get(), u.get(), v.get());  // A = (Y1-X1)(Y2-X2)
    add(u.get(), a.y.get(), a.x.get());
    add(v.get(), b.y.get(), b.x.get());
    mul(tb.get(), u.get(), v.get());  // B = (Y1+X1)(Y2+X2)
    mul(tc.get(), a.t.get(), d2_.get());
    mul(tc.get(), tc.get(), b.t.get());  // C = T1 2d T2
    mul(td.get(), a.z.get(), b.z.get());
    add(td.get(), td.get(), td.get());  // D = 2 Z1 Z2
    bn_ptr e = make(), f = make(), g = make(), h = make();
    if (!ok_) return;
    sub(e.get(), tb.get(), ta.get());  // E = B - A
    sub(f.get(), td.get(), tc.get());  // F = D - C
    add(g.get(), td.get(), tc.get());  // G = D + C
    add(h.get(), tb.get(), ta.get());  // H = B + A
    mul(r.x.get(), e.get(), f.get());
    mul(r.y.get(), g.get(), h.get());
    mul(r.t.get(), e.get(), h.get());
    mul(r.z.get(), f.get(), g.get());
  }

  // [k]q by double-and-add from the top bit (variable time; see ed25519.hpp).
  point scalar_mult(const BIGNUM* k, const point& q) {
    point r = make_point();
    set_identity(r);
    for (int i = BN_num_bits(k) - 1; i >= 0 && ok_; --i) {
      add_points(r, r, r);
      if (BN_is_bit_set(k, i)) add_points(r, r, q);
    }
    return r;
  }

  // RFC 8032 5.1.2: y little-endian, the sign of x in bit 255.
  void encode(const point& q, std::uint8_t* out) {
    bn_ptr zi = make(), x = make(), y = make();
    if (!ok_) return;
    inverse(zi.get(), q.z.get());
    mul(x.get(), q.x.get(), zi.get());
    mul(y.get(), q.y.get(), zi.get());
    to_le(y.get(), out, 32);
    if (ok_ && BN_is_odd(x.get())) out[31] = static_cast<std::uint8_t>(out[31] | 0x80);
  }

  // RFC 8032 5.1.3; false for a non-canonical y, a y with no x, or x = 0 with the sign bit set.
  bool decode(bytes in, point& q) {
    if (in.size() != 32) return false;
    std::array<std::uint8_t, 32> ybytes{};
    for (std::size_t i = 0; i < 32; ++i) ybytes[i] = in[i];
    const bool sign = (ybytes[31] & 0x80) != 0;
    ybytes[31] = static_cast<std::uint8_t>(ybytes[31] & 0x7f);
    q.y = from_le(ybytes);
    if (!ok_ || BN_cmp(q.y.get(), p_.get()) >= 0) return false;
    bn_ptr y2 = make(), u = make(), v = make(), one = make(), e = make(), t = make(), x = make();
    if (!ok_ || BN_one(one.get()) != 1) return false;
    mul(y2.get(), q.y.get(), q.y.get());
    sub(u.get(), y2.get(), one.get());  // u = y^2 - 1
    mul(v.get(), d_.get(), y2.get());
    add(v.get(), v.get(), one.get());   // v = d y^2 + 1
    // x = u v^3 (u v^7)^((p-5)/8)
    bn_ptr v3 = make(), v7 = make();
    if (!ok_) return false;
    mul(v3.get(), v.get(), v.get());
    mul(v3.get(), v3.get(), v.get());
    mul(v7.get(), v3.get(), v3.get());
    mul(v7.get(), v7.get(), v.get());
    mul(t.get(), u.get(), v7.get());
    if (!ok_ || BN_copy(e.get(), p_.get()) == nullptr || BN_sub_word(e.get(), 5) != 1 || BN_rshift(e.get(), e.get(), 3) != 1)
      return false;
    exp(t.get(), t.get(), e.get());
    mul(x.get(), u.get(), v3.get());
    mul(x.get(), x.get(), t.get());
    // check v x^2 == u, or == -u (then x *= sqrt(-1) = 2^((p-1)/4))
    bn_ptr vx2 = make(), neg_u = make();
    if (!ok_) return false;
    mul(vx2.get(), x.get(), x.get());
    mul(vx2.get(), vx2.get(), v.get());
    sub(neg_u.get(), p_.get(), u.get());
    if (ok_ && BN_cmp(vx2.get(), u.get()) != 0) {
      if (BN_cmp(vx2.get(), neg_u.get()) != 0 && !(BN_is_zero(u.get()) && BN_is_zero(vx2.get()))) return false;
      bn_ptr two = make(), root = make();
      if (!ok_ || BN_set_word(two.get(), 2) != 1 || BN_copy(e.get(), p_.get()) == nullptr || BN_sub_word(e.get(), 1) != 1 ||
          BN_rshift(e.get(), e.get(), 2) != 1)
        return false;
      exp(root.get(), two.get(), e.get());
      mul(x.get(), x.get(), root.get());
    }
    if (!ok_) return false;
    if (BN_is_zero(x.get()) && sign) return false;
    if ((BN_is_odd(x.get()) != 0) != sign) sub(x.get(), p_.get(), x.get());
    q.x = std::move(x);
    if (!q.z || BN_one(q.z.get()) != 1) return false;
    mul(q.t.get(), q.x.get(), q.y.get());
    return ok_;
  }

 private:
  std::unique_ptr<BN_CTX, ctx_free> ctx_;
  bool ok_ = false;
  bn_ptr p_, d_, d2_, l_;
};

// SHA-512 of the pieces, reduced mod L.
bn_ptr hash_scalar(curve& c, std::initializer_list<bytes> parts) {
  sha512_digest h{};
  const wipe_on_exit wipe_h(h);
  if (!sha512(parts, h)) {
    bn_ptr none;
    return none;
  }
  bn_ptr n = c.from_le(h);
  if (n) c.reduce(n.get(), n.get());
  return n;
}

// The clamped secret scalar a from az[0..32) (RFC 8032 5.1.5 step 2).
bn_ptr secret_scalar(curve& c, const sha512_digest& az) {
  std::array<std::uint8_t, 32> s{};
  const wipe_on_exit wipe_s(s);
  for (std::size_t i = 0; i < 32; ++i) s[i] = az[i];
  s[0] = static_cast<std::uint8_t>(s[0] & 248);
  s[31] = static_cast<std::uint8_t>((s[31] & 127) | 64);
  return c.from_le(s);
}

bool public_key_of(curve& c, const BIGNUM* a, ed25519_public_key& out) {
  const point b = c.base();
  const point big_a = c.scalar_mult(a, b);
  c.encode(big_a, out.data());
  return c.ok();
}

}  // namespace

bool ed25519_public_key_expanded(const sha512_digest& az, ed25519_public_key& out) noexcept {
  curve c;
  const bn_ptr a = secret_scalar(c, az);
  if (!c.ok() || !public_key_of(c, a.get(), out)) {
    wipe(out);
    return false;
  }
  return true;
}

bool ed25519_sign_expanded(const sha512_digest& az, bytes message, ed25519_signature& signature) noexcept {
  curve c;
  ed25519_public_key public_key{};
  const bn_ptr a = secret_scalar(c, az);
  const bool ok = [&] {
    if (!c.ok() || !public_key_of(c, a.get(), public_key)) return false;
    // r = SHA-512(prefix || M) mod L; R = [r]B
    const bn_ptr r = hash_scalar(c, {bytes(az).subspan(32), message});
    if (!r || !c.ok()) return false;
    const point big_r = c.scalar_mult(r.get(), c.base());
    c.encode(big_r, signature.data());
    if (!c.ok()) return false;
    // k = SHA-512(R || A || M) mod L; S = (r + k a) mod L
    const bn_ptr k = hash_scalar(c, {bytes(signature).first(32), public_key, message});
    bn_ptr s = c.make();
    if (!k || !c.ok()) return false;
    if (BN_mod_mul(s.get(), k.get(), a.get(), c.order(), c.ctx()) != 1 ||
        BN_mod_add(s.get(), s.get(), r.get(), c.order(), c.ctx()) != 1)
      return false;
    c.to_le(s.get(), signature.data() + 32, 32);
    return c.ok();
  }();
  if (!ok) wipe(signature);
  return ok;
}

bool ed25519_verify(const ed25519_public_key& public_key, bytes message, bytes signature) noexcept {
  if (signature.size() != ed25519_signature_size) return false;
  curve c;
  if (!c.ok()) return false;
  point big_a = c.make_point();
  point big_r = c.make_point();
  if (!c.ok() || !c.decode(public_key, big_a) || !c.decode(signature.first(32), big_r)) return false;
  const bn_ptr s = c.from_le(signature.subspan(32));
  if (!c.ok() || BN_cmp(s.get(), c.order()) >= 0) return false;
  const bn_ptr k = hash_scalar(c, {signature.first(32), public_key, message});
  if (!k || !c.ok()) return false;
  const point sb = c.scalar_mult(s.get(), c.base());
  point rhs = c.scalar_mult(k.get(), big_a);
  c.add_points(rhs, rhs, big_r);
  std::array<std::uint8_t, 32> left{}, right{};
  c.encode(sb, left.data());
  c.encode(rhs, right.data());
  return c.ok() && constant_time_equal(left, right);
}

bool mariadb_ed25519_sign(std::string_view password, bytes scramble, ed25519_signature& out) noexcept {
  sha512_digest az{};
  const wipe_on_exit wipe_az(az);
  if (!sha512({wire::as_bytes(password)}, az)) return false;
  return ed25519_sign_expanded(az, scramble, out);
}

bool mariadb_ed25519_public_key(std::string_view password, ed25519_public_key& out) noexcept {
  sha512_digest az{};
  const wipe_on_exit wipe_az(az);
  if (!sha512({wire::as_bytes(password)}, az)) return false;
  return ed25519_public_key_expanded(az, out);
}

std::string mariadb_ed25519_stored(std::string_view password) {
  ed25519_public_key key{};
  if (!mariadb_ed25519_public_key(password, key)) return {};
  std::array<unsigned char, 45> text{};  // 4 * ceil(32 / 3) + NUL
  const int n = EVP_EncodeBlock(text.data(), key.data(), static_cast<int>(key.size()));
  std::string out(reinterpret_cast<const char*>(text.data()), n > 0 ? static_cast<std::size_t>(n) : 0);
  while (!out.empty() && out.back() == '=') out.pop_back();
  return out;
}

std::optional<ed25519_public_key> parse_mariadb_ed25519_stored(std::string_view stored) noexcept {
  // 43 base64 characters without padding (MariaDB's PASSWORD_LEN); one '=' completes them to a block.
  if (stored.size() != 43) return std::nullopt;
  std::array<unsigned char, 44> text{};
  for (std::size_t i = 0; i < 43; ++i) {
    const char ch = stored[i];
    const bool valid = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '+' || ch == '/';
    if (!valid) return std::nullopt;
    text[i] = static_cast<unsigned char>(ch);
  }
  text[43] = '=';
  std::array<unsigned char, 33> raw{};  // EVP_DecodeBlock counts the padding as a zero byte
  if (EVP_DecodeBlock(raw.data(), text.data(), static_cast<int>(text.size())) != 33 || raw[32] != 0) return std::nullopt;
  ed25519_public_key key{};
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = raw[i];
  return key;
}

}  // namespace sluice::backends::mysql::auth

// The status page's style sheet, shared by every page the status server renders.
export const STYLE = `
*{box-sizing:border-box}
body{font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f4f5f7;color:#1d2329}
header{background:#1d3557;color:#fff;padding:.8rem 1rem}
header h1{font-size:1.2rem;margin:0}
header p{margin:.2rem 0 0;opacity:.85;font-size:.9rem}
main{max-width:60rem;margin:0 auto;padding:.5rem .8rem 2rem}
section{background:#fff;border-radius:.5rem;padding:.8rem 1rem;margin:.8rem 0;box-shadow:0 1px 2px rgba(0,0,0,.08)}
h2{font-size:1.05rem;margin:0 0 .6rem}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(7.5rem,1fr));gap:.5rem}
.card{background:#f4f5f7;border-radius:.4rem;padding:.5rem .7rem}
.card b{display:block;font-size:1.5rem}
.card.bad b{color:#b00020}
.notice{background:#e3f4e8;border-left:4px solid #2e7d32;padding:.6rem .8rem;border-radius:.3rem}
.error{background:#fdecea;border-left:4px solid #b00020;padding:.6rem .8rem;border-radius:.3rem}
.msg{border-top:1px solid #e2e5e9;padding:.6rem 0}
.msg:first-of-type{border-top:0}
.id{font-family:ui-monospace,Menlo,monospace;font-size:.85rem;word-break:break-all}
.reason{color:#b00020;word-break:break-word}
dl{display:grid;grid-template-columns:minmax(8rem,auto) 1fr;gap:.2rem .8rem;margin:0}
dt{color:#56606b}
dd{margin:0;word-break:break-word}
form.retry{display:flex;flex-wrap:wrap;gap:.4rem;margin-top:.4rem;align-items:center}
.actions{display:flex;flex-wrap:wrap;gap:.4rem}
button.delete{background:#8a1c1c}
.signin-code{background:#eef3fb;border-radius:.4rem;padding:.4rem .8rem;margin:.4rem 0}
.user-code{font-family:ui-monospace,Menlo,monospace;font-size:1.4rem;letter-spacing:.1em}
svg.qr{width:10rem;height:10rem;display:block}
.events{list-style:none;margin:0;padding:0;font-size:.9rem}
.events li{border-top:1px solid #e2e5e9;padding:.3rem 0;word-break:break-word}
.events .device{color:#8a4b00}
input[type=password]{font-size:1rem;padding:.45rem;border:1px solid #aab2bb;border-radius:.3rem;min-width:0;flex:1 1 10rem}
button{font-size:1rem;padding:.45rem 1.1rem;border:0;border-radius:.3rem;background:#1d3557;color:#fff}
.muted{color:#56606b}
footer{text-align:center;font-size:.85rem}
`;

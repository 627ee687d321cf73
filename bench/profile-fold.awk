# bench/profile-fold.awk — folds `perf script --no-inline` output of the Portcullis process into
# per-crate, per-source-file and per-task summaries. Used by bench/profile; needs gawk.
# "allocator" gathers malloc/free of glibc, mimalloc or jemalloc and the #[global_allocator] shim,
# so that allocation counts as the allocator's in the crate tables and as its caller's line's.
#
# Two passes over the same perf script file:
#   gawk -f profile-fold.awk -v mode=addrs -v bin=BIN -v delta=D SCRIPT
#       prints each distinct Portcullis code address once, as an ELF virtual address, for
#       `addr2line -a -f -i -C -e BIN` (return addresses minus one, so they name the call site);
#   gawk -f profile-fold.awk -v mode=fold -v bin=BIN -v delta=D -v root=ROOT -v a2l=A2L \
#        [-v folded=OUT] SCRIPT
#       expands every Portcullis frame into its inlined frames with the addr2line output, then
#       prints the tables and writes folded stacks (root;...;leaf count) to OUT.
#
# perf prints user addresses as file offsets; D is the executable segment's vaddr - offset.
# Each sample is one paragraph: a header line, then frames leaf first, each
# "ADDRESS SYMBOL+0xOFF (DSO)".

function hex(s) { return strtonum("0x" s) }
function frame_addr(ip, idx) { return sprintf("0x%x", hex(ip) + delta - (idx > 0 ? 1 : 0)) }

# Where a source file belongs: a path relative to the workspace, "crate/path" for a registry
# crate, "std/core/alloc", or "" when unknown.
function where(file,   m, c, rest) {
    if (file ~ /^\/rustc\//) return "std/core/alloc";
    if (index(file, root "/") == 1) return substr(file, length(root) + 2);
    if (match(file, /\/registry\/src\/[^\/]+\/([^\/]+)\/(.*)$/, m)) {
        c = m[1]; sub(/-[0-9]+\.[0-9]+\.[0-9]+([-+][^\/]*)?$/, "", c);
        return c "/" m[2];
    }
    if (match(file, /\/git\/checkouts\/([^\/]+)\/[^\/]+\/(.*)$/, m)) {
        c = m[1]; sub(/-[0-9a-f]+$/, "", c);
        return c "/" m[2];
    }
    if (file ~ /aws-lc/) return "aws-lc";
    return "";
}
function crate_of_where(w,   m) {
    if (w == "std/core/alloc") return w;
    if (w ~ /^(libmimalloc-sys|mimalloc|tikv-jemallocator|tikv-jemalloc-sys|snmalloc-rs)\//) return "allocator";
    if (match(w, /^crates\/([^\/]+)\//, m)) return "portcullis_" m[1];
    if (w ~ /^bench\//) return "bench";
    sub(/\/.*$/, "", w);
    return w;
}
function crate_of_sym(sym,   s, c) {
    if (sym == "" || sym ~ /^\[unknown\]/) return "[unknown]";
    s = sym;
    # drop_in_place<T> is the cost of dropping a T: charge the crate of T.
    if (s ~ /^core::ptr::drop_in_place</) s = substr(s, 26);
    while (substr(s, 1, 1) ~ /[<&(]/) s = substr(s, 2);
    sub(/^(dyn |mut |const )+/, "", s);
    c = s; sub(/(::|<| |,|>|\().*$/, "", c);
    if (c == "core" || c == "alloc" || c == "std") return "std/core/alloc";
    gsub(/_/, "-", c);
    if (c ~ /^portcullis-/) sub(/^portcullis-/, "portcullis_", c);
    return c;
}
function libc_class(sym) {
    if (sym ~ /malloc|free|realloc|calloc|_int_|tcache|arena|sysmalloc|unlink_chunk/) return "allocator";
    if (sym ~ /mem(cpy|move|set|cmp)|str(len|cmp)/) return "libc mem*/str*";
    if (sym ~ /pthread|futex|lll_/) return "libc pthread/futex";
    return "libc (other, syscall wrappers)";
}
function syscall_of(sym,   s) {
    s = sym; sub(/^__GI_/, "", s); sub(/^__libc_/, "", s); sub(/^_+/, "", s); sub(/@.*$/, "", s);
    return s;
}
function short_func(f) {
    gsub(/::\{closure#[0-9]+\}/, "", f); gsub(/::\{async_fn#[0-9]+\}/, "", f);
    gsub(/::\{async_block#[0-9]+\}/, "", f);
    return f;
}
# A function name without generic arguments (`<T as Trait>::f` qualifications stay), so that
# type parameters naming other crates do not match the task patterns below.
function bare(f,   i, g) {
    for (i = 0; i < 30; i++) {
        g = gensub(/([A-Za-z0-9_}])<[^<>]*>/, "\\1", "g", f);
        g = gensub(/([<, (&])<[^<>]*>/, "\\1_", "g", g);
        if (g == f) break;
        f = g;
    }
    return f;
}
function add(c, w, f, l) { nf++; fc[nf] = c; fw[nf] = w; ff[nf] = f; fl[nf] = l }

BEGIN {
    RS = ""; FS = "\n";
    if (mode == "fold") {
        # addr2line -a -f -i: an "0x..." line, then (function, file:line) pairs, innermost first.
        RS = "\n";
        while ((getline line < a2l) > 0) {
            if (line ~ /^0x[0-9a-f]+$/) { cur = sprintf("0x%x", strtonum(line)); n2[cur] = 0; expect = "func"; continue }
            if (expect == "func") { fn = line; expect = "file"; continue }
            file = line; sub(/ \(discriminator [0-9]+\)$/, "", file);
            ln = file; sub(/^.*:/, "", ln); sub(/:[0-9?]+$/, "", file);
            k = ++n2[cur]; a2f[cur, k] = fn; a2w[cur, k] = where(file); a2n[cur, k] = ln;
            expect = "func";
        }
        close(a2l);
        RS = "";
    }
}

{
    nf = 0; entered = ""; in_kernel = 0; kernel_kind = "";
    for (i = 2; i <= NF; i++) {
        line = $i; sub(/^[ \t]+/, "", line);
        ip = line; sub(/[ \t].*$/, "", ip);
        rest = substr(line, length(ip) + 1); sub(/^[ \t]+/, "", rest);
        dso = rest; sub(/^.*\(/, "", dso); sub(/\)[ \t]*$/, "", dso);
        sym = rest; sub(/[ \t]*\([^()]*\)[ \t]*$/, "", sym); sub(/\+0x[0-9a-f]+$/, "", sym);
        if (dso == bin) {
            a = frame_addr(ip, i - 2);
            if (mode == "addrs") { if (!(a in done)) { done[a] = 1; print a } continue }
            if ((a in n2) && n2[a] > 0) {
                for (k = 1; k <= n2[a]; k++) {
                    w = a2w[a, k];
                    # The #[global_allocator] shim is the allocator's cost, not its caller's.
                    if (a2f[a, k] ~ /^__rust_(alloc|dealloc|realloc|alloc_zeroed)$|GlobalAlloc/) add("allocator", "allocator", a2f[a, k], "?");
                    else if (w == "") add(crate_of_sym(sym), crate_of_sym(sym), a2f[a, k], "?");
                    else add(crate_of_where(w), w, a2f[a, k], a2n[a, k]);
                }
            } else {
                c = crate_of_sym(sym);
                if (c ~ /^(libmimalloc-sys|mimalloc|tikv-jemallocator|tikv-jemalloc-sys)$/ || sym ~ /^(_?mi_|__rust_(alloc|dealloc|realloc))/) c = "allocator";
                add(c, c, sym, "?");
            }
            continue;
        }
        if (mode == "addrs") continue;
        if (dso ~ /kernel\.kallsyms/) {
            c = "kernel";
            if (nf == 0 || in_kernel) in_kernel = 1;
            if (sym ~ /^entry_SYSCALL/) kernel_kind = "syscall";
            else if (sym ~ /^asm_(sysvec|common_interrupt|exc_)/ && kernel_kind == "") kernel_kind = "irq";
        } else {
            if (dso ~ /vdso/) c = "vdso (clock_gettime)";
            else if (dso ~ /libc\.so|ld-linux/) c = libc_class(sym);
            else if (sym ~ /^\[unknown\]/ || dso ~ /^\[unknown\]/) c = "[unknown]";
            else c = dso;
            if (in_kernel && entered == "") entered = syscall_of(sym);
            in_kernel = 0;
        }
        add(c, c, sym, "?");
    }
    if (mode == "addrs" || nf == 0) next;
    total++;

    # Self: the innermost frame (after inline expansion); kernel time by what entered the kernel.
    leaf = fc[1];
    if (leaf == "kernel") {
        if (kernel_kind == "syscall") leaf = "kernel: syscall " (entered == "" ? "?" : entered);
        else if (kernel_kind == "irq") leaf = "kernel: interrupt/preemption while in user code";
        else leaf = "kernel: other (context switch return, unwound stack ends in the kernel)";
    }
    self_crate[leaf]++;
    lf = short_func(ff[1]); if (fc[1] == "kernel") lf = "[kernel] " lf;
    self_func[lf]++;

    # Inclusive: every crate and Portcullis file on the stack, once per sample.
    delete seen; stack = "";
    svc = 0; body = 0; cli = 0; srv = 0; park = 0;
    for (k = 1; k <= nf; k++) {
        if (!(("c" fc[k]) in seen)) { seen["c" fc[k]] = 1; incl_crate[fc[k]]++ }
        if (fc[k] ~ /^portcullis_/ && !(("w" fw[k]) in seen)) { seen["w" fw[k]] = 1; incl_file[fw[k]]++ }
        b = bare(ff[k]);
        if (fw[k] == "crates/gateway/src/body.rs") body = 1;
        else if (fc[k] ~ /^portcullis_/ || fw[k] ~ /^(axum\/src\/(routing|middleware|handler)|tower-http)\// ||
                 b ~ /axum::routing|RouteFuture|axum::middleware|tower_http::|as axum::handler::Handler/) svc = 1;
        if (fw[k] ~ /^(hyper\/src\/client|hyper-util\/src\/client)\// ||
            b ~ /hyper::client|role::Client as|hyper_util::client::legacy/) cli = 1;
        if (fw[k] ~ /^(hyper\/src\/server|hyper-util\/src\/server|axum\/src\/serve)/ ||
            b ~ /axum::serve|handle_connection|hyper::server|role::Server as/) srv = 1;
        if (fc[k] == "tokio" && b ~ /park|Parker|driver::Driver::turn/) park = 1;
        s = ff[k]; gsub(/;/, ",", s);
        stack = (k == 1 ? s : s ";" stack);
    }
    folds[stack]++;

    # The task the sample belongs to, most specific first.
    if (body) task = "relaying the response body (RelayBody::poll_frame, under the client connection)";
    else if (svc) task = "request handling in the router (axum + tower-http + Portcullis middleware/handler, incl. sending upstream)";
    else if (cli) task = "upstream connection task (hyper client: write the request, read the response)";
    else if (srv) task = "client connection (hyper server: read and parse requests, write responses)";
    else if (park) task = "tokio worker parking/waking (epoll, futex, timers)";
    else task = "other (scheduler, unwinding cut short, ...)";
    by_task[task]++;

    # Charge the sample to the innermost Portcullis frame: its own code plus the library code it
    # called, down to the next Portcullis frame (which is then the innermost instead).
    own = "(no Portcullis frame on the stack)"; ownf = own;
    for (k = 1; k <= nf; k++) if (fc[k] ~ /^portcullis_/) {
        ownf = fw[k]; own = fw[k] ":" fl[k] "  " short_func(ff[k]); break;
    }
    charged_line[own]++; charged_file[ownf]++;
}

function table(title, arr, limit,   c, cmd) {
    printf "\n%s\n", title;
    cmd = "sort -t'\t' -k1,1nr | head -n " limit;
    for (c in arr) printf "%6.2f\t%s\n", 100 * arr[c] / total, c | cmd;
    close(cmd);
}

END {
    if (mode == "addrs") exit 0;
    if (total == 0) { print "no samples"; exit 1 }
    printf "%d samples; %% of Portcullis's sampled CPU; inline frames expanded with addr2line\n", total;
    table("%\ttask the sample belongs to", by_task, 10);
    table("self %\tcrate of the innermost frame (kernel time split by what entered the kernel)", self_crate, 40);
    table("incl %\tcrate anywhere on the stack", incl_crate, 40);
    table("self %\tinnermost function (inline frames expanded)", self_func, 40);
    table("incl %\tPortcullis source file anywhere on the stack", incl_file, 20);
    table("%\tcharged to the innermost Portcullis source file (its code and the library code it calls)", charged_file, 20);
    table("%\tcharged to the innermost Portcullis source line (its code and the library code it calls)", charged_line, 40);
    if (folded != "") for (s in folds) print s, folds[s] > folded;
}

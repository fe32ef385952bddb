// Ball-and-stick molecules: atoms as ray-cast sphere impostors, bonds as lit cylinders.
// Prefixed at build time with common/camera.wgsl (see shaders/src/lib.rs).
// Instance layouts must be kept in sync with `AtomInstance` / `BondInstance` in
// shaders/src/render/gpu_types.rs.

// ---- atoms ----------------------------------------------------------------------------------

struct AtomIn {
    @location(0) center: vec3<f32>,
    @location(1) radius: f32,
    @location(2) color: vec4<f32>,
};

struct AtomOut {
    @builtin(position) clip: vec4<f32>,
    // The billboard point this fragment lies on, in view space: the eye ray goes through it.
    @location(0) pos_view: vec3<f32>,
    @location(1) @interpolate(flat) center_view: vec3<f32>,
    @location(2) @interpolate(flat) radius: f32,
    @location(3) @interpolate(flat) color: vec3<f32>,
};

struct FragOut {
    @location(0) color: vec4<f32>,
    @builtin(frag_depth) depth: f32,
};

// Two triangles covering the square [-1, 1]².
fn quad_corner(i: u32) -> vec2<f32> {
    switch i {
        case 0u: { return vec2<f32>(-1.0, -1.0); }
        case 1u: { return vec2<f32>(1.0, -1.0); }
        case 2u: { return vec2<f32>(-1.0, 1.0); }
        case 3u: { return vec2<f32>(-1.0, 1.0); }
        case 4u: { return vec2<f32>(1.0, -1.0); }
        default: { return vec2<f32>(1.0, 1.0); }
    }
}

@vertex
fn vs_atom(@builtin(vertex_index) vertex: u32, atom: AtomIn) -> AtomOut {
    let corner = quad_corner(vertex % 6u);
    let c = (camera.view * vec4<f32>(atom.center, 1.0)).xyz;
    let d = max(length(c), atom.radius * 1.0001);
    // The cone of eye rays tangent to the sphere cuts the plane through its centre (normal to
    // the view ray) in a circle of this radius: the billboard must cover it.
    let half = atom.radius * d / sqrt(d * d - atom.radius * atom.radius);
    let w = c / d;
    var up = vec3<f32>(0.0, 1.0, 0.0);
    if abs(w.y) > 0.99 {
        up = vec3<f32>(1.0, 0.0, 0.0);
    }
    let u = normalize(cross(up, w));
    let v = cross(w, u);
    let p = c + (u * corner.x + v * corner.y) * half;
    var out: AtomOut;
    out.clip = camera.proj * vec4<f32>(p, 1.0);
    out.pos_view = p;
    out.center_view = c;
    out.radius = atom.radius;
    out.color = atom.color.rgb;
    return out;
}

@fragment
fn fs_atom(in: AtomOut) -> FragOut {
    // Ray from the eye (view-space origin) through the billboard point.
    let dir = normalize(in.pos_view);
    let oc = -in.center_view;
    let b = dot(dir, oc);
    let c = dot(oc, oc) - in.radius * in.radius;
    let disc = b * b - c;
    if disc < 0.0 {
        discard;
    }
    let t = -b - sqrt(disc);
    let hit = dir * t;
    let clip = camera.proj * vec4<f32>(hit, 1.0);
    var out: FragOut;
    out.color = vec4<f32>(shade(in.color, hit - in.center_view, hit), 1.0);
    out.depth = clip.z / clip.w;
    return out;
}

// ---- bonds ----------------------------------------------------------------------------------

const BOND_SEGMENTS: u32 = 16u;

struct BondIn {
    @location(0) a: vec3<f32>,
    @location(1) radius: f32,
    @location(2) b: vec3<f32>,
    @location(3) color_a: vec4<f32>,
    @location(4) color_b: vec4<f32>,
};

struct BondOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) pos_view: vec3<f32>,
    @location(1) normal_view: vec3<f32>,
    // 0 at atom a, 1 at atom b: each half takes its atom's colour.
    @location(2) t: f32,
    @location(3) @interpolate(flat) color_a: vec3<f32>,
    @location(4) @interpolate(flat) color_b: vec3<f32>,
};

// Corner k of a side quad: (angular step 0/1, axial position 0/1).
fn side_corner(k: u32) -> vec2<f32> {
    switch k {
        case 0u: { return vec2<f32>(0.0, 0.0); }
        case 1u: { return vec2<f32>(1.0, 0.0); }
        case 2u: { return vec2<f32>(0.0, 1.0); }
        case 3u: { return vec2<f32>(0.0, 1.0); }
        case 4u: { return vec2<f32>(1.0, 0.0); }
        default: { return vec2<f32>(1.0, 1.0); }
    }
}

@vertex
fn vs_bond(@builtin(vertex_index) vertex: u32, bond: BondIn) -> BondOut {
    let segment = vertex / 6u;
    let corner = side_corner(vertex % 6u);
    let angle = (f32(segment) + corner.x) * (6.28318530718 / f32(BOND_SEGMENTS));
    let axis = bond.b - bond.a;
    let w = normalize(axis);
    var helper = vec3<f32>(0.0, 0.0, 1.0);
    if abs(w.z) > 0.9 {
        helper = vec3<f32>(1.0, 0.0, 0.0);
    }
    let u = normalize(cross(helper, w));
    let v = cross(w, u);
    let radial = u * cos(angle) + v * sin(angle);
    let world = bond.a + axis * corner.y + radial * bond.radius;
    let p = (camera.view * vec4<f32>(world, 1.0)).xyz;
    var out: BondOut;
    out.clip = camera.proj * vec4<f32>(p, 1.0);
    out.pos_view = p;
    out.normal_view = (camera.view * vec4<f32>(radial, 0.0)).xyz;
    out.t = corner.y;
    out.color_a = bond.color_a.rgb;
    out.color_b = bond.color_b.rgb;
    return out;
}

@fragment
fn fs_bond(in: BondOut) -> @location(0) vec4<f32> {
    var base = in.color_b;
    if in.t < 0.5 {
        base = in.color_a;
    }
    return vec4<f32>(shade(base, in.normal_view, in.pos_view), 1.0);
}

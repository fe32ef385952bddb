// Camera and lighting shared by every nucleate renderer.
// Needs to be kept in sync with `CameraUniform` in shaders/src/render/gpu_types.rs.

struct Camera {
    // World → view (right-handed, the eye looks down −z).
    view: mat4x4<f32>,
    // View → clip (wgpu depth range 0..1).
    proj: mat4x4<f32>,
    // Direction towards the light, in view space, normalised; w unused.
    light_dir: vec4<f32>,
    // x: ambient term, y: specular strength, z: shininess, w unused.
    params: vec4<f32>,
};

@group(0) @binding(0) var<uniform> camera: Camera;

// Blinn–Phong in view space. `base` is linear RGB; the render target applies the sRGB curve.
fn shade(base: vec3<f32>, normal: vec3<f32>, pos_view: vec3<f32>) -> vec3<f32> {
    let n = normalize(normal);
    let l = normalize(camera.light_dir.xyz);
    let v = normalize(-pos_view);
    let h = normalize(l + v);
    let diffuse = max(dot(n, l), 0.0);
    let specular = pow(max(dot(n, h), 0.0), camera.params.z) * camera.params.y;
    let ambient = camera.params.x;
    return base * (ambient + (1.0 - ambient) * diffuse) + vec3<f32>(specular);
}

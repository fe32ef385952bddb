//! An orbit camera that frames a molecule and projects points to pixels.

use super::{CameraUniform, MoleculeScene};
use glam::{Mat4, Vec3, Vec4};

/// A perspective camera orbiting `target` at `distance`, turned by `yaw` and `pitch` (radians).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OrbitCamera {
    /// Point looked at (Å).
    pub target: Vec3,
    /// Distance from the eye to the target (Å).
    pub distance: f32,
    /// Rotation about the world y axis (radians).
    pub yaw: f32,
    /// Elevation above the xz plane (radians), kept inside ±89°.
    pub pitch: f32,
    /// Vertical field of view (radians).
    pub fov_y: f32,
}

const NEAR_FRACTION: f32 = 0.02;

impl OrbitCamera {
    /// A camera at the default viewing angle, as close as it can be while every drawn atom
    /// stays inside the image with an 8% margin on each side.
    pub fn framing(scene: &MoleculeScene, aspect: f32) -> Self {
        let mut camera = Self {
            target: Vec3::from(scene.center),
            distance: 1.0,
            yaw: 0.35,
            pitch: 0.3,
            fov_y: 35f32.to_radians(),
        };
        camera.fit(scene, aspect);
        camera
    }

    /// Re-aim at the scene's centre and move as close as possible while every drawn atom stays
    /// inside the image with an 8% margin, keeping the viewing angle (yaw, pitch, field of
    /// view): how the viewer follows a structure that changed size, e.g. a generated molecule
    /// grown from a compact cloud of noise.
    pub fn fit(&mut self, scene: &MoleculeScene, aspect: f32) {
        self.target = Vec3::from(scene.center);
        let tan_y = (self.fov_y * 0.5).tan() * 0.92;
        let tan_x = (self.fov_y * 0.5).tan() * aspect.max(1e-6) * 0.92;
        // Offsets from the target in view orientation: x right, y up, z towards the eye.
        let rotation = Mat4::look_at_rh(self.eye() - self.target, Vec3::ZERO, Vec3::Y);
        let mut distance = scene.radius; // never inside the bounding sphere
        for atom in &scene.atoms {
            let offset = rotation.transform_vector3(Vec3::from(atom.center) - self.target);
            let (x, y, z, r) = (offset.x.abs(), offset.y.abs(), offset.z, atom.radius);
            // The sphere's silhouette stays inside when its widest extent does, measured at the
            // depth of its nearest point.
            distance = distance
                .max(z + r + (x + r) / tan_x)
                .max(z + r + (y + r) / tan_y);
        }
        self.distance = distance;
    }

    /// Whether every atom of `scene` projects inside a `width`×`height` image.
    pub fn sees_all(&self, scene: &MoleculeScene, width: u32, height: u32) -> bool {
        let (w, h) = (width as f32, height as f32);
        scene.atoms.iter().all(|a| {
            self.project(a.center, width, height)
                .is_some_and(|(x, y, _)| (0.0..=w).contains(&x) && (0.0..=h).contains(&y))
        })
    }

    /// Eye position in world space.
    pub fn eye(&self) -> Vec3 {
        let (sy, cy) = self.yaw.sin_cos();
        let (sp, cp) = self.pitch.sin_cos();
        self.target + self.distance * Vec3::new(sy * cp, sp, cy * cp)
    }

    /// World → view matrix (right-handed, looking down −z).
    pub fn view_from_world(&self) -> Mat4 {
        Mat4::look_at_rh(self.eye(), self.target, Vec3::Y)
    }

    /// View → clip matrix with depth in 0..1; near and far planes bracket the orbit.
    pub fn clip_from_view(&self, aspect: f32) -> Mat4 {
        let near = (self.distance * NEAR_FRACTION).max(1e-3);
        let far = self.distance * 4.0 + 10.0;
        Mat4::perspective_rh(self.fov_y, aspect.max(1e-6), near, far)
    }

    /// Turn by mouse motion: `dx`, `dy` in radians.
    pub fn orbit(&mut self, dx: f32, dy: f32) {
        self.yaw -= dx;
        let limit = 89f32.to_radians();
        self.pitch = (self.pitch + dy).clamp(-limit, limit);
    }

    /// Zoom by a factor (> 1 moves away), bounded to a sensible range.
    pub fn zoom(&mut self, factor: f32) {
        self.distance = (self.distance * factor).clamp(0.5, 1.0e4);
    }

    /// The uniform block the shaders read.
    pub fn uniform(&self, aspect: f32) -> CameraUniform {
        // Light from the upper left, slightly in front of the viewer.
        let light = Vec3::new(-0.4, 0.6, 1.0).normalize();
        CameraUniform {
            view: self.view_from_world().to_cols_array_2d(),
            proj: self.clip_from_view(aspect).to_cols_array_2d(),
            light_dir: [light.x, light.y, light.z, 0.0],
            params: [0.25, 0.25, 48.0, 0.0],
        }
    }

    /// Where a world point lands in a `width`×`height` image: pixel x (right), pixel y (down),
    /// and view-space distance in front of the eye. `None` behind the eye.
    pub fn project(&self, point: [f32; 3], width: u32, height: u32) -> Option<(f32, f32, f32)> {
        let aspect = width as f32 / height as f32;
        let view = self.view_from_world() * Vec4::new(point[0], point[1], point[2], 1.0);
        if view.z >= 0.0 {
            return None;
        }
        let clip = self.clip_from_view(aspect) * view;
        let ndc_x = clip.x / clip.w;
        let ndc_y = clip.y / clip.w;
        let px = (ndc_x * 0.5 + 0.5) * width as f32;
        let py = (0.5 - ndc_y * 0.5) * height as f32;
        Some((px, py, -view.z))
    }
}

/// The atom instance of `scene` under pixel (`x`, `y`) of a `width`×`height` image (the
/// nearest one when several overlap), or `None`.
pub fn pick(
    scene: &MoleculeScene,
    camera: &OrbitCamera,
    x: f32,
    y: f32,
    width: u32,
    height: u32,
) -> Option<usize> {
    let focal = 0.5 * height as f32 / (0.5 * camera.fov_y).tan();
    let mut best: Option<(usize, f32)> = None;
    for (i, atom) in scene.atoms.iter().enumerate() {
        let Some((px, py, depth)) = camera.project(atom.center, width, height) else {
            continue;
        };
        let r = atom.radius * focal / depth;
        let inside = (px - x).powi(2) + (py - y).powi(2) <= r * r;
        // Compare the depth of the sphere's front, so a big atom in front wins.
        let front = depth - atom.radius;
        if inside && best.is_none_or(|(_, d)| front < d) {
            best = Some((i, front));
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nucleate_core::Structure;

    #[test]
    fn framing_keeps_every_atom_inside_the_image() {
        let s = Structure::molecule(
            vec![6, 8, 1, 7],
            vec![
                [0.0, 0.0, 0.0],
                [12.0, 1.0, -3.0],
                [-4.0, 6.0, 2.0],
                [3.0, -5.0, 8.0],
            ],
        );
        let scene = MoleculeScene::from_structure(&s);
        for (w, h) in [(800, 600), (300, 900), (512, 512)] {
            let cam = OrbitCamera::framing(&scene, w as f32 / h as f32);
            for a in &scene.atoms {
                let (x, y, _) = cam.project(a.center, w, h).expect("in front of the eye");
                assert!(
                    x > 0.0 && x < w as f32 && y > 0.0 && y < h as f32,
                    "({x}, {y}) in {w}x{h}"
                );
            }
        }
    }

    /// A camera framed on a compact structure loses atoms when the structure grows; `fit`
    /// brings them all back inside, keeping the user's viewing angle.
    #[test]
    fn fit_follows_a_growing_structure_and_keeps_the_angle() {
        let small = Structure::molecule(
            vec![6, 8, 1],
            vec![[0.0, 0.0, 0.0], [0.5, 0.2, 0.1], [-0.3, 0.4, -0.2]],
        );
        let mut big = small.clone();
        for p in &mut big.positions {
            *p = p.map(|v| 8.0 * v + 3.0);
        }
        let (w, h) = (640, 480);
        let mut cam = OrbitCamera::framing(&MoleculeScene::from_structure(&small), 4.0 / 3.0);
        cam.yaw = 1.2;
        cam.pitch = -0.4;
        let scene = MoleculeScene::from_structure(&big);
        assert!(
            !cam.sees_all(&scene, w, h),
            "the grown structure leaves the old view"
        );
        cam.fit(&scene, w as f32 / h as f32);
        assert!(cam.sees_all(&scene, w, h));
        assert_eq!((cam.yaw, cam.pitch), (1.2, -0.4));
        assert_eq!(cam.target, Vec3::from(scene.center));
    }

    #[test]
    fn target_projects_to_the_image_centre() {
        let s = Structure::molecule(vec![6, 6], vec![[1.0, 2.0, 3.0], [2.0, 2.0, 3.0]]);
        let scene = MoleculeScene::from_structure(&s);
        let cam = OrbitCamera::framing(&scene, 2.0);
        let (x, y, d) = cam.project(scene.center, 200, 100).expect("visible");
        assert!((x - 100.0).abs() < 1e-3 && (y - 50.0).abs() < 1e-3);
        assert!((d - cam.distance).abs() < 1e-3);
    }

    #[test]
    fn pick_finds_the_front_atom_under_the_cursor() {
        let s = Structure::molecule(vec![6, 8], vec![[0.0, 0.0, 0.0], [0.0, 0.0, 3.0]]);
        let scene = MoleculeScene::from_structure(&s);
        let camera = OrbitCamera {
            target: Vec3::ZERO,
            distance: 20.0,
            yaw: 0.0,
            pitch: 0.0,
            fov_y: 35f32.to_radians(),
        };
        let eye = camera.eye();
        // Both atoms lie on the line of sight through the centre when looking along z.
        let (w, h) = (400, 300);
        let (cx, cy, _) = camera.project([0.0, 0.0, 0.0], w, h).expect("in front");
        let front = if eye.z > 0.0 { 1 } else { 0 };
        assert_eq!(pick(&scene, &camera, cx, cy, w, h), Some(front));
        assert_eq!(pick(&scene, &camera, 2.0, 2.0, w, h), None);
    }
}

//! Training objectives: coordinate denoising, SCD and fine-tuning on CT (docs/objectives.md §1–2),
//! noise schedules and centre-of-mass handling for diffusion and UniGEM's two-phase loss (§5).

pub mod denoise;
pub mod diffusion;
pub mod pocket;
pub mod sampler;
pub mod scd_import;
pub mod unigem;

pub use denoise::{
    DenoiseBatch, DenoiseError, DenoiseModel, DenoiseModelConfig, FinetuneSettings, LossFigures,
    NoiseLevels, StepLoss, cell_repeat, coord_loss, denoise_batch_loss, finetune_loss,
    prepare_coord, prepare_finetune, prepare_scd, scd_loss,
};
pub use diffusion::{NoiseSchedule, Transition, diffuse, remove_com};
pub use pocket::{
    COMPONENT, extract_ligand, pocket_complex, pocket_scd_loss, prepare_pocket_scd, split_complex,
};
pub use sampler::{
    AtomCountHistogram, Guidance, QM9_ATOM_COUNTS, SampleFrame, Sampler, SamplerStep, Samples,
    StepOutputs, StepValues, annotated, sample,
};
pub use scd_import::{ScdImport, import_scd};
pub use unigem::{
    NUCLEATION_TIME, SplitMix64, UniGemBatch, UniGemError, UniGemLoss, UniGemMeta, phase_times,
    predict_property, prepare_unigem, type_features, unigem_batch_loss, unigem_loss,
};

/// An autodiff CPU device for a test that calls `backward`, with the guard that serialises such
/// tests (hold it for the whole test; see [`crate::testing::serial_autodiff`]).
#[cfg(test)]
pub(crate) fn serial_autodiff_device() -> (std::sync::MutexGuard<'static, ()>, burn::tensor::Device)
{
    crate::testing::serial_autodiff(&crate::testing::cpu_device())
}
